//! `kubectl ebpf run`: find the script, check it here with the engine the nodes use, and
//! turn it into a trace of the probes it handles. Nothing is created before the check
//! passes.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    path::Path,
    time::Instant,
};

use tracer_protocol::{
    ScriptSpec,
    spec::{MAX_SCRIPT_ARG_BYTES, MAX_SCRIPT_ARGS, MAX_SCRIPT_BYTES},
};
use tracer_script::{Script, sources};

use crate::{
    cli::{ListFormat, RunArgs, ScriptRun, ScriptsArgs, TraceArgs},
    exit::{self, CliError},
};

/// A script shipped with the plugin (scripts-stdlib/).
pub struct Stdlib {
    pub name: &'static str,
    pub source: &'static str,
}

pub const STDLIB: &[Stdlib] = &[
    Stdlib {
        name: "failed-opens",
        source: include_str!("../../scripts-stdlib/failed-opens.rhai"),
    },
    Stdlib {
        name: "exec-audit",
        source: include_str!("../../scripts-stdlib/exec-audit.rhai"),
    },
    Stdlib {
        name: "crash-loop",
        source: include_str!("../../scripts-stdlib/crash-loop.rhai"),
    },
    Stdlib {
        name: "slow-opens",
        source: include_str!("../../scripts-stdlib/slow-opens.rhai"),
    },
    Stdlib {
        name: "signals",
        source: include_str!("../../scripts-stdlib/signals.rhai"),
    },
    Stdlib {
        name: "shell-in-container",
        source: include_str!("../../scripts-stdlib/shell-in-container.rhai"),
    },
    Stdlib {
        name: "sensitive-files",
        source: include_str!("../../scripts-stdlib/sensitive-files.rhai"),
    },
    Stdlib {
        name: "connect-failures",
        source: include_str!("../../scripts-stdlib/connect-failures.rhai"),
    },
    Stdlib {
        name: "who-talks",
        source: include_str!("../../scripts-stdlib/who-talks.rhai"),
    },
    Stdlib {
        name: "noisy-neighbours",
        source: include_str!("../../scripts-stdlib/noisy-neighbours.rhai"),
    },
    Stdlib {
        name: "disk-latency",
        source: include_str!("../../scripts-stdlib/disk-latency.rhai"),
    },
    Stdlib {
        name: "top-syscalls",
        source: include_str!("../../scripts-stdlib/top-syscalls.rhai"),
    },
];

/// The probe name a script's trace carries in its result.
pub const PROBE: &str = "script";

/// What `run` does next.
#[derive(Debug)]
pub enum Prepared {
    /// Trace with these arguments.
    Trace(Box<TraceArgs>),
    /// Stop with this exit code (a `--check`, or a script that does not compile).
    Exit(u8),
}

/// Reads and checks the script; builds the trace unless only checking.
pub fn prepare(mut args: RunArgs) -> Result<Prepared, CliError> {
    let (name, source) = match args.expr.take() {
        Some(expr) => {
            // With -e, a positional argument is a target, not a script.
            if let Some(target) = args.script.take() {
                args.on.targets.insert(0, target);
            }
            ("-e".to_owned(), expr)
        }
        None => read(args.script.as_deref().unwrap_or_default())?,
    };
    if source.len() > MAX_SCRIPT_BYTES {
        return Err(too_large(&name, source.len() as u64));
    }
    if args.args.len() > MAX_SCRIPT_ARGS {
        return Err(CliError::usage(
            format!(
                "{name} is given {} --arg values; scripts may take {MAX_SCRIPT_ARGS}",
                args.args.len()
            ),
            "pass fewer --arg values, e.g. one list: --arg paths=/a,/b",
        ));
    }
    if let Some((arg, value)) = args
        .args
        .iter()
        .find(|(arg, value)| arg.len() + value.len() > MAX_SCRIPT_ARG_BYTES)
    {
        let shown: String = arg.chars().take(64).collect();
        return Err(CliError::usage(
            format!(
                "--arg {shown}=... is {} bytes; an argument may take {} KiB",
                arg.len() + value.len(),
                MAX_SCRIPT_ARG_BYTES / 1024
            ),
            "pass a shorter value",
        ));
    }
    let mut values = BTreeMap::new();
    for (arg, value) in args.args.drain(..) {
        if values.insert(arg.clone(), value).is_some() {
            return Err(CliError::usage(
                format!("--arg {arg} is given twice"),
                "give each argument once",
            ));
        }
    }
    let spec = ScriptSpec {
        name,
        source,
        args: values,
    };
    let started = Instant::now();
    let script = match Script::load(&spec, "local") {
        Ok(script) => script,
        Err(diagnostic) => {
            eprint!("{} {diagnostic}", crate::color::error_label());
            return Ok(Prepared::Exit(exit::USAGE));
        }
    };
    let probes = script.probes();
    if args.check {
        let traced = script.traced();
        let handles: Vec<&str> = probes
            .iter()
            .filter(|probe| !traced.contains(probe))
            .map(|probe| probe.name())
            .collect();
        let mut handles = if handles.is_empty() {
            "no events".to_owned()
        } else {
            format!("{} events", handles.join(", "))
        };
        if !traced.is_empty() {
            let names: Vec<&str> = traced.iter().map(|probe| probe.name()).collect();
            handles.push_str(&format!("; traces {}", names.join(", ")));
        }
        println!(
            "{}: ok; handles {handles} (checked in {} ms)",
            spec.name,
            started.elapsed().as_millis()
        );
        return Ok(Prepared::Exit(exit::SUCCESS));
    }
    if probes.is_empty() {
        return Err(CliError::usage(
            format!(
                "{} handles no events, so there is nothing to trace",
                spec.name
            ),
            r#"add a handler, e.g. on("exec", |e| print(e.comm))"#,
        ));
    }
    let tops = script.tops().clone();
    Ok(Prepared::Trace(Box::new(TraceArgs {
        probe: PROBE.to_owned(),
        on: args.on,
        duration: args.duration,
        top: args.top,
        output: args.output,
        script: Some(ScriptRun { spec, probes, tops }),
        ..TraceArgs::default()
    })))
}

fn too_large(name: &str, size: u64) -> CliError {
    CliError::usage(
        format!(
            "{name} is {size} bytes; scripts may take {} KiB",
            MAX_SCRIPT_BYTES / 1024
        ),
        "move data out of the script; pass values with --arg",
    )
}

/// A script file, or else a stdlib script by name: its name (for errors) and text.
fn read(script: &str) -> Result<(String, String), CliError> {
    let path = Path::new(script);
    if path.is_file() {
        let name = path
            .file_name()
            .map_or_else(|| script.to_owned(), |n| n.to_string_lossy().into_owned());
        let cannot_read = |err: std::io::Error| {
            CliError::usage(format!("cannot read {script}: {err}"), "check the path")
        };
        let file = std::fs::File::open(path).map_err(cannot_read)?;
        let size = file.metadata().map_err(cannot_read)?.len();
        // Read no more than the limit allows: the file may be anything, of any size.
        let mut text = Vec::new();
        file.take(MAX_SCRIPT_BYTES as u64 + 1)
            .read_to_end(&mut text)
            .map_err(cannot_read)?;
        if text.len() > MAX_SCRIPT_BYTES {
            return Err(too_large(&name, size.max(text.len() as u64)));
        }
        let text = String::from_utf8(text).map_err(|_| {
            CliError::usage(format!("{script} is not UTF-8 text"), "save it as UTF-8")
        })?;
        return Ok((name, text));
    }
    let wanted = script.strip_suffix(".rhai").unwrap_or(script);
    if let Some(stdlib) = STDLIB.iter().find(|stdlib| stdlib.name == wanted) {
        return Ok((format!("{}.rhai", stdlib.name), stdlib.source.to_owned()));
    }
    let names = STDLIB.iter().map(|stdlib| stdlib.name);
    let hint = match sources::nearest(wanted, names.clone()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!(
            "give a .rhai file, -e 'SCRIPT', or one of {}",
            names.collect::<Vec<_>>().join(", ")
        ),
    };
    Err(CliError::usage(
        format!("no script file {script} and no shipped script of that name"),
        hint,
    ))
}

/// `kubectl ebpf scripts [NAME]`: the shipped scripts with what each is for, or one
/// script's header (purpose, arguments, example).
pub const SCRIPTS_SCHEMA: &str = "kubectl-ebpf/scripts/v1";

/// One shipped script of `scripts -o json`.
#[derive(serde::Serialize)]
struct ListedScript {
    name: &'static str,
    summary: String,
    /// The `--arg` names it reads.
    arguments: Vec<String>,
    /// Its whole header: purpose, arguments, example.
    help: String,
}

impl ListedScript {
    fn of(script: &Stdlib) -> ListedScript {
        ListedScript {
            name: script.name,
            summary: summary(script.source),
            arguments: arguments(script.source),
            help: header(script.source),
        }
    }
}

pub fn list(args: &ScriptsArgs) -> Result<u8, CliError> {
    let scripts: Vec<&Stdlib> = match &args.name {
        Some(name) => {
            let wanted = name.strip_suffix(".rhai").unwrap_or(name);
            let Some(script) = STDLIB.iter().find(|stdlib| stdlib.name == wanted) else {
                let names = STDLIB.iter().map(|stdlib| stdlib.name);
                let hint = match sources::nearest(wanted, names.clone()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("one of {}", names.collect::<Vec<_>>().join(", ")),
                };
                return Err(CliError::usage(format!("no shipped script {name}"), hint));
            };
            vec![script]
        }
        None => STDLIB.iter().collect(),
    };
    let mut stdout = std::io::stdout().lock();
    let written = match args.output {
        ListFormat::Json | ListFormat::Yaml => {
            let listed: Vec<ListedScript> = scripts.iter().map(|s| ListedScript::of(s)).collect();
            let document = serde_json::json!({ "schema": SCRIPTS_SCHEMA, "scripts": listed });
            if args.output == ListFormat::Json {
                serde_json::to_writer_pretty(&mut stdout, &document)
                    .map_err(std::io::Error::other)
                    .and_then(|()| writeln!(stdout))
            } else {
                crate::render::write_yaml(&document, &mut stdout)
            }
        }
        ListFormat::Table | ListFormat::Wide if args.name.is_some() => {
            writeln!(stdout, "{}", header(scripts[0].source))
        }
        ListFormat::Table | ListFormat::Wide => {
            let wide = args.output == ListFormat::Wide;
            let mut columns = vec!["SCRIPT", "WHAT IT DOES"];
            if wide {
                columns.push("ARGUMENTS");
            }
            let mut table = crate::render::table(columns);
            for script in &scripts {
                let mut row = vec![script.name.to_owned(), summary(script.source)];
                if wide {
                    let arguments = arguments(script.source);
                    row.push(if arguments.is_empty() {
                        "-".to_owned()
                    } else {
                        arguments.join(", ")
                    });
                }
                table.add_row(row);
            }
            writeln!(stdout, "{table}").and_then(|()| {
                writeln!(
                    stdout,
                    "\n`kubectl ebpf scripts NAME` shows a script's arguments and an example."
                )
            })
        }
    };
    match written {
        // `| head` closing the pipe early is not a failure.
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::failure(
            format!("cannot write the list: {err}"),
            "",
        )),
        _ => Ok(exit::SUCCESS),
    }
}

/// The names of the `--arg NAME=VALUE` a script's header documents, in order.
fn arguments(source: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for line in header(source).lines() {
        let Some((_, after)) = line.split_once("--arg ") else {
            continue;
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The comment block a shipped script opens with, without the comment marks.
pub fn header(source: &str) -> String {
    source
        .lines()
        .take_while(|line| line.starts_with("//"))
        .map(|line| {
            let text = line.trim_start_matches("//");
            text.strip_prefix(' ').unwrap_or(text)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a shipped script is for: the first paragraph of its header, on one line.
pub fn summary(source: &str) -> String {
    header(source)
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use tracer_protocol::ProbeSpec;

    use super::*;

    #[test]
    fn every_shipped_script_checks_and_says_what_it_does() {
        for stdlib in STDLIB {
            let spec = ScriptSpec {
                name: stdlib.name.to_owned(),
                source: stdlib.source.to_owned(),
                args: BTreeMap::new(),
            };
            let script = Script::load(&spec, "n").unwrap_or_else(|err| panic!("{err}"));
            assert!(!script.probes().is_empty(), "{}", stdlib.name);
            assert!(!summary(stdlib.source).is_empty(), "{}", stdlib.name);
        }
    }

    #[test]
    fn every_script_in_the_folder_is_shipped() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts-stdlib");
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .expect("scripts-stdlib")
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".rhai").map(str::to_owned)
            })
            .collect();
        files.sort();
        let mut shipped: Vec<String> = STDLIB.iter().map(|s| s.name.to_owned()).collect();
        shipped.sort();
        assert_eq!(files, shipped);
        let readme = std::fs::read_to_string(folder.join("README.md")).expect("README");
        for name in &shipped {
            assert!(readme.contains(&format!("`{name}`")), "README lacks {name}");
        }
    }

    #[test]
    fn finds_shipped_scripts_by_name_and_suggests_near_ones() {
        let (name, source) = read("failed-opens").expect("shipped");
        assert_eq!(name, "failed-opens.rhai");
        assert!(source.contains(r#"on("open""#));
        assert!(read("failed-opens.rhai").is_ok());
        let err = read("faild-opens").expect_err("misspelled");
        assert!(
            err.to_string().contains("did you mean `failed-opens`?"),
            "{err}"
        );
    }

    #[test]
    fn a_run_is_a_trace_of_the_probes_the_script_handles() {
        let args = RunArgs {
            script: Some("pod/api".to_owned()),
            expr: Some(r#"on("exit", |e| count("exits", e.code)); top("exits", 3);"#.to_owned()),
            args: vec![("x".to_owned(), "1".to_owned())],
            check: false,
            on: crate::cli::TargetArgs::default(),
            duration: None,
            top: None,
            output: crate::cli::OutputFormat::Table,
        };
        let Prepared::Trace(trace) = prepare(args).expect("checks") else {
            panic!("not a trace");
        };
        assert_eq!(trace.on.targets, ["pod/api"]);
        let script = trace.script.as_ref().expect("a script");
        assert_eq!(
            script.probes,
            [ProbeSpec::Exit {
                filter: Default::default()
            }]
        );
        assert_eq!(script.tops.get("exits"), Some(&3));
        assert_eq!(script.spec.name, "-e");
        let spec = crate::request::base_spec(&trace, Default::default()).expect("valid");
        assert_eq!(
            spec.probes,
            [ProbeSpec::Exit {
                filter: Default::default()
            }]
        );
        assert_eq!(spec.script.as_ref().map(|s| s.args.len()), Some(1));
    }

    fn run_args(expr: &str, args: Vec<(String, String)>) -> RunArgs {
        RunArgs {
            script: None,
            expr: Some(expr.to_owned()),
            args,
            check: true,
            on: crate::cli::TargetArgs::default(),
            duration: None,
            top: None,
            output: crate::cli::OutputFormat::Table,
        }
    }

    const EXPR: &str = r#"on("exit", |e| count("exits", arg("x", "")));"#;

    #[test]
    fn refuses_oversized_scripts_and_arguments_in_one_line() {
        let big = format!("{EXPR}//{}", "x".repeat(MAX_SCRIPT_BYTES));
        let err = prepare(run_args(&big, vec![])).expect_err("too large");
        assert_eq!(
            err.message,
            format!("-e is {} bytes; scripts may take 64 KiB", big.len())
        );

        let file = std::env::temp_dir().join(format!("oversized-{}.rhai", std::process::id()));
        std::fs::write(&file, &big).expect("write script");
        let script = file.display().to_string();
        let err = read(&script).expect_err("too large");
        let _ = std::fs::remove_file(&file);
        assert!(
            err.message
                .ends_with(&format!(" is {} bytes; scripts may take 64 KiB", big.len())),
            "{}",
            err.message
        );

        let value = "v".repeat(MAX_SCRIPT_ARG_BYTES);
        let err = prepare(run_args(EXPR, vec![("x".to_owned(), value)])).expect_err("too large");
        assert_eq!(
            err.message,
            format!(
                "--arg x=... is {} bytes; an argument may take 4 KiB",
                MAX_SCRIPT_ARG_BYTES + 1
            )
        );

        let many = (0..=MAX_SCRIPT_ARGS)
            .map(|i| (format!("a{i}"), "1".to_owned()))
            .collect();
        let err = prepare(run_args(EXPR, many)).expect_err("too many");
        assert_eq!(
            err.message,
            "-e is given 65 --arg values; scripts may take 64"
        );

        let at_limit = vec![("x".to_owned(), "7".repeat(MAX_SCRIPT_ARG_BYTES - 1))];
        assert!(matches!(
            prepare(run_args(EXPR, at_limit)),
            Ok(Prepared::Exit(code)) if code == exit::SUCCESS
        ));
    }

    #[test]
    fn a_scripts_header_and_summary_come_from_its_opening_comment() {
        let source = "// Counts things,\n// by pod.\n//\n// Arguments: none\n\nlet x = 1;\n";
        assert_eq!(summary(source), "Counts things, by pod.");
        assert_eq!(header(source), "Counts things,\nby pod.\n\nArguments: none");
    }
}
