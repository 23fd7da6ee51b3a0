//! Printing a merged result: bpftrace-style histograms and a summary table, or JSON/YAML.

pub mod counts;
pub mod events;
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
            // Events were printed as they arrived.
            if result.histograms.is_empty() && result.counts.is_empty() {
                return events::write_total(result, out);
            }
            for histogram in &result.histograms {
                hist::write(histogram, out)?;
                writeln!(out)?;
            }
            if !result.histograms.is_empty() {
                summary::write(result, out)?;
            }
            counts::write(&result.counts, out)
        }
    }
}

/// Any serializable document as YAML.
pub fn write_yaml(value: &impl serde::Serialize, out: &mut impl Write) -> io::Result<()> {
    let text = serde_saphyr::to_string(value).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())
}
