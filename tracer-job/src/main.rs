//! `tracer-job [SPEC.json | -]`: reads a trace spec (stdin when no file or `-` is
//! given), traces, and writes NDJSON records to stdout. Exit codes are those of
//! docs/exit-codes.md.

use std::{io::Read, process::ExitCode};

use tracer_job::{emit::Emitter, failure::Failure, run::run};
use tracer_protocol::{ErrorCode, TraceSpec, spec::MAX_SPEC_BYTES};

#[global_allocator]
static ALLOCATOR: tracer_job::Allocator = tracer_job::Allocator;

const USAGE: &str = "usage: tracer-job [SPEC.json | -]\n\
Reads a trace spec (stdin when no file or `-` is given) and writes NDJSON records to stdout.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let source = match args.as_slice() {
        [] => None,
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [flag] if flag == "-V" || flag == "--version" => {
            println!("tracer-job {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        [path] if path == "-" => None,
        [path] => Some(path.clone()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let spec = read_spec(source.as_deref());
    ExitCode::from(run(spec, &mut Emitter::stdout()))
}

fn read_spec(path: Option<&str>) -> Result<TraceSpec, Failure> {
    let mut bytes = Vec::new();
    let read = match path {
        // One byte over the limit is enough to refuse it.
        Some(path) => std::fs::File::open(path)
            .and_then(|file| file.take(MAX_SPEC_BYTES as u64 + 1).read_to_end(&mut bytes)),
        None => std::io::stdin()
            .take(MAX_SPEC_BYTES as u64 + 1)
            .read_to_end(&mut bytes),
    };
    let origin = path.unwrap_or("stdin");
    read.map_err(|err| {
        Failure::new(
            ErrorCode::InvalidSpec,
            format!("cannot read the trace spec from {origin}: {err}"),
            "pass a readable JSON file, or the spec on stdin",
        )
    })?;
    TraceSpec::parse(&bytes).map_err(|err| {
        Failure::new(
            ErrorCode::InvalidSpec,
            err.to_string(),
            "the plugin and tracer versions may differ; use the tracer image of the plugin's version",
        )
    })
}
