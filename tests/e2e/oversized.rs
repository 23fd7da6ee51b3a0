//! Input beyond its documented bounds is refused before anything is attached, with one
//! line that says which limit it broke.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use e2e::binaries;
use tracer_protocol::{
    Decoded, ErrorCode, ProbeSpec, Record, ScriptSpec, Targets, TraceSpec, decode_line,
    spec::{MAX_SCRIPT_ARG_BYTES, MAX_SPEC_BYTES},
};

/// Runs `tracer-job` on `spec` and returns its exit code and the one error it wrote.
fn tracer_refuses(spec: Vec<u8>) -> (i32, String) {
    let mut child = Command::new(binaries::tracer())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tracer-job");
    let mut stdin = child.stdin.take().expect("piped stdin");
    // The tracer stops reading past the limit, so the rest of the write may fail.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&spec);
    });
    let output = child.wait_with_output().expect("wait tracer-job");
    writer.join().expect("writer");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 records");
    let records: Vec<Record> = stdout
        .lines()
        .map(|line| match decode_line(line) {
            Decoded::Record(record) => record,
            other => panic!("{line:?} decoded as {other:?}"),
        })
        .collect();
    let [Record::Error { code, message, .. }] = records.as_slice() else {
        panic!("the tracer wrote {records:?} instead of one error");
    };
    assert_eq!(*code, ErrorCode::InvalidSpec, "{message}");
    assert!(!message.contains('\n'), "{message:?}");
    (output.status.code().expect("an exit code"), message.clone())
}

#[test]
fn tracer_refuses_a_spec_over_the_limit_without_reading_it_all() {
    let mut spec = br#"{"version":1,"probes":[{"probe":"exec"}],"trace_id":""#.to_vec();
    spec.resize(2 * MAX_SPEC_BYTES, b'x');
    spec.extend_from_slice(br#""}"#);
    let (code, message) = tracer_refuses(spec);
    assert_eq!(code, 2);
    assert_eq!(
        message,
        format!("trace spec is larger than the limit of {MAX_SPEC_BYTES} bytes")
    );
}

#[test]
fn tracer_refuses_an_oversized_script_argument() {
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::Exec {
            filter: Default::default(),
        }],
        Targets::default(),
    );
    spec.script = Some(ScriptSpec {
        name: "audit.rhai".into(),
        source: r#"on("exec", |e| count("execs", arg("who", "")));"#.into(),
        args: [("who".to_owned(), "w".repeat(MAX_SCRIPT_ARG_BYTES))].into(),
    });
    let (code, message) = tracer_refuses(serde_json::to_vec(&spec).expect("encode spec"));
    assert_eq!(code, 2);
    assert_eq!(
        message,
        format!(
            "script audit.rhai is given --arg who=... of {} bytes; the limit is {MAX_SCRIPT_ARG_BYTES}",
            MAX_SCRIPT_ARG_BYTES + 3
        )
    );
}

#[test]
fn plugin_refuses_an_oversized_argument_in_one_line() {
    let output = Command::new(binaries::plugin())
        .args([
            "run",
            "--check",
            "-e",
            r#"on("exec", |e| count("execs", arg("who", "")));"#,
            "--arg",
        ])
        .arg(format!("who={}", "w".repeat(MAX_SCRIPT_ARG_BYTES)))
        .output()
        .expect("run kubectl-ebpf");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        format!(
            "error: --arg who=... is {} bytes; an argument may take 4 KiB; pass a shorter value\n",
            MAX_SCRIPT_ARG_BYTES + 3
        )
    );
}
