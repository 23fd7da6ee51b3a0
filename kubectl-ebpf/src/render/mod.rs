//! Printing a merged result: bpftrace-style histograms and a summary table, or JSON.

pub mod hist;
pub mod summary;

use std::io::{self, Write};

use crate::{cli::OutputFormat, merge::TraceResult};

pub fn render(result: &TraceResult, format: OutputFormat, out: &mut impl Write) -> io::Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, result)?;
            writeln!(out)
        }
        OutputFormat::Table => {
            for histogram in &result.histograms {
                hist::write(histogram, out)?;
                writeln!(out)?;
            }
            summary::write(result, out)
        }
    }
}
