//! tracer-job's answers to a spec it cannot use: one `error` record and exit code 2,
//! before touching the kernel.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use tracer_protocol::{Decoded, ErrorCode, Record, decode_line};

fn run_with_stdin(input: &[u8]) -> (Option<i32>, Vec<Record>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tracer-job"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start tracer-job");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write spec");
    let output = child.wait_with_output().expect("wait");
    let records = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| match decode_line(line) {
            Decoded::Record(record) => record,
            other => panic!("tracer wrote {line:?} ({other:?})"),
        })
        .collect();
    (output.status.code(), records)
}

#[test]
fn garbage_spec_gives_one_error_record() {
    let (code, records) = run_with_stdin(b"{not json");
    assert_eq!(code, Some(2));
    assert_eq!(records.len(), 1, "{records:?}");
    let Record::Error {
        code,
        message,
        hint,
    } = &records[0]
    else {
        panic!("not an error: {records:?}");
    };
    assert_eq!(*code, ErrorCode::InvalidSpec);
    assert!(message.contains("not valid"), "{message}");
    assert!(!hint.is_empty());
}

#[test]
fn unknown_probe_is_refused() {
    let (code, records) = run_with_stdin(br#"{"version":1,"probes":[{"probe":"warp-drive"}]}"#);
    assert_eq!(code, Some(2));
    assert!(matches!(&records[0], Record::Error { message, .. } if message.contains("warp-drive")));
}

#[test]
fn a_missing_spec_file_is_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_tracer-job"))
        .arg("/nonexistent/spec.json")
        .output()
        .expect("run tracer-job");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stdout).contains("/nonexistent/spec.json"));
}
