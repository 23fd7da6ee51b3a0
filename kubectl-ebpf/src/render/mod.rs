//! Printing a merged result: bpftrace-style histograms and a summary table, or JSON/YAML.

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
        OutputFormat::Yaml => write_yaml(result, out),
        OutputFormat::Table => {
            for histogram in &result.histograms {
                hist::write(histogram, out)?;
                writeln!(out)?;
            }
            summary::write(result, out)
        }
    }
}

/// Any serializable document as YAML.
pub fn write_yaml(value: &impl serde::Serialize, out: &mut impl Write) -> io::Result<()> {
    let text = serde_saphyr::to_string(value).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())
}
