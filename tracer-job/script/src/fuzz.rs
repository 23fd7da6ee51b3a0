//! Property tests of the checker: whatever source a user hands `kubectl ebpf run`, loading
//! it ends with a script or a diagnostic, never a panic or a hang.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use proptest::prelude::*;
use tracer_protocol::ScriptSpec;

use crate::Script;

/// Pieces of rhai, the API's names and the event fields, so random sources get past the
/// tokenizer and reach the parser and the top level.
const TOKENS: &[&str] = &[
    "on",
    "every",
    "end",
    "top",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "hist",
    "row",
    "print",
    "arg",
    "ns",
    "us",
    "ms",
    "sec",
    "fmt_duration",
    "fmt_bytes",
    "join",
    "errno_name",
    "signal_name",
    "has",
    "\"exec\"",
    "\"open\"",
    "\"exit\"",
    "\"signal\"",
    "\"nope\"",
    "e",
    "e.comm",
    "e.pid",
    "e.path",
    "e.error",
    "let",
    "const",
    "fn",
    "if",
    "else",
    "while",
    "loop",
    "for",
    "in",
    "return",
    "break",
    "continue",
    "throw",
    "try",
    "catch",
    "switch",
    "import",
    "eval",
    "x",
    "y",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "#{",
    ",",
    ";",
    ":",
    ".",
    "=",
    "==",
    "+",
    "-",
    "*",
    "/",
    "%",
    "**",
    "<<",
    ">>",
    "&",
    "|",
    "^",
    "!",
    "&&",
    "||",
    "..",
    "..=",
    "=>",
    "|e|",
    "||",
    "0",
    "1",
    "-1",
    "9223372036854775807",
    "1e308",
    "0.5",
    "\"\"",
    "\"s\"",
    "'c'",
    "`t${x}`",
    "true",
    "false",
    "()",
    "\n",
    " ",
    "//",
    "/*",
    "*/",
    "\\",
];

fn source() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(prop::sample::select(TOKENS), 0..60)
            .prop_map(|tokens| tokens.join(" ")),
        1 => ".{0,200}",
    ]
}

fn check(source: &str, args: BTreeMap<String, String>) {
    let spec = ScriptSpec {
        name: "fuzz.rhai".into(),
        source: source.to_owned(),
        args,
    };
    let started = Instant::now();
    let loaded = Script::load(&spec, "node-1");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "checking took {took:?}: {source:?}"
    );
    if let Err(diagnostic) = loaded {
        assert!(!diagnostic.message.is_empty(), "{source:?}");
        let shown = diagnostic.to_string();
        assert!(!shown.is_empty());
        assert!(!diagnostic.one_line().contains('\n') || source.contains('\n'));
    }
}

proptest! {
    // FUZZ_CASES=N runs a longer campaign than the suite's 300 cases per property.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn checker_survives_any_source(source in source()) {
        check(&source, BTreeMap::new());
    }

    #[test]
    fn checker_survives_any_arguments(
        value in ".{0,40}",
        default in prop::sample::select(&["\"s\"", "1", "0.5", "true", "[]", "#{}", "()"][..]),
    ) {
        let source = format!(r#"let v = arg("a", {default}); on("exec", |e| print(`${{v}}`));"#);
        check(&source, [("a".to_owned(), value)].into());
    }
}

/// Found by `checker_survives_any_source`: a bare `throw` left the message empty.
#[test]
fn a_throw_without_a_value_still_says_something() {
    for source in ["throw", "throw \"\"", "throw ();"] {
        check(source, BTreeMap::new());
    }
}

#[test]
fn checker_survives_deep_nesting() {
    for depth in [32, 64, 65, 1_000, 100_000] {
        check(
            &format!("{}1{}", "(".repeat(depth), ")".repeat(depth)),
            BTreeMap::new(),
        );
        check(
            &format!("{}{}", "{".repeat(depth), "}".repeat(depth)),
            BTreeMap::new(),
        );
        check(
            &format!("let a = {}1{};", "[".repeat(depth), "]".repeat(depth)),
            BTreeMap::new(),
        );
        check(&("-".repeat(depth) + "1"), BTreeMap::new());
    }
}
