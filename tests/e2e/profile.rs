//! `kubectl-ebpf profile --local`: the plugin runs the real tracer, which samples a
//! workload with known hot functions in a test cgroup and symbolizes its stacks.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use e2e::{
    cgroup::{TestCgroup, cgroup2_mount},
    plugin_run::PluginRun,
    workload::Workload,
};
use serde_json::Value;

/// The workload built with frame pointers (tests/build.rs).
const WORKLOAD: &str = env!("PROFILE_WORKLOAD_FP");

/// Wall time each workload works, and how long the profile lasts (longer, so it covers
/// all of the work after attaching).
const WORK_MS: &str = "3000";
const PROFILE_FOR: &str = "5s";

fn workload(mode: &str) -> Workload {
    Workload::start_at(Path::new(WORKLOAD), &[mode.to_owned(), WORK_MS.to_owned()])
}

/// Runs `kubectl-ebpf profile --local --cgroup <cgroup> <args>`; once it has attached,
/// starts `workloads` and waits for them. Returns the exit code and stdout.
fn profile(cgroup: &TestCgroup, args: &[&str], workloads: &mut [Workload]) -> (i32, String) {
    let cgroup_path = cgroup.path().to_str().expect("a UTF-8 cgroup path");
    let plugin = PluginRun::start(
        [
            "profile",
            "--local",
            "-d",
            PROFILE_FOR,
            "--cgroup",
            cgroup_path,
        ]
        .iter()
        .chain(args),
    );
    for workload in workloads.iter_mut() {
        workload.go();
    }
    for workload in workloads.iter_mut() {
        workload.wait_done();
    }
    let (status, stdout, stderr) = plugin.finish();
    assert!(status.success(), "plugin exited {status}; stderr: {stderr}");
    (status.code().unwrap_or(-1), stdout)
}

/// `/<path below the cgroup2 mount>`, the root of the cgroup's stacks.
fn root(cgroup: &TestCgroup) -> String {
    let relative = cgroup
        .path()
        .strip_prefix(cgroup2_mount())
        .expect("below the mount");
    format!("/{}", relative.display())
}

#[test]
fn folded_stacks_name_the_hot_functions_in_order_and_nothing_outside() {
    let cgroup = TestCgroup::create("profile");
    let inside = workload("spin");
    let outside = workload("spin");
    cgroup.add(inside.pid());
    let mut workloads = [inside, outside];
    // Enough samples that the 2:1 ratio below stands out from sampling noise.
    let (_, stdout) = profile(&cgroup, &["-o", "folded", "-F", "497"], &mut workloads);

    let stacks = folded(&stdout);
    assert!(!stacks.is_empty(), "no stack was sampled");
    let root = root(&cgroup);
    for (frames, _) in &stacks {
        // Nothing of the identical workload outside the cgroup.
        assert_eq!(
            frames[0], root,
            "a stack from outside the target: {frames:?}"
        );
        assert_eq!(frames[1], "profile-workloa", "{frames:?}");
    }
    let total: u64 = stacks.iter().map(|(_, count)| count).sum();
    let in_function = |name: &str| -> u64 {
        stacks
            .iter()
            .filter(|(frames, _)| frames.last() == Some(&name))
            .map(|(frames, count)| {
                // Caller before callee, from the root: main, spin, then the function.
                let at = frames.len() - 1;
                assert_eq!(frames[at - 1], "profile_workload::spin", "{frames:?}");
                assert_eq!(frames[at - 2], "profile_workload::main", "{frames:?}");
                count
            })
            .sum()
    };
    let long = in_function("profile_workload::hot_long");
    let short = in_function("profile_workload::hot_short");
    assert!(
        short >= 10,
        "too few samples to judge ({long} + {short} of {total}):\n{stdout}"
    );
    assert!(
        (long + short) * 10 >= total * 8,
        "the hot functions hold {long} + {short} of {total} samples:\n{stdout}"
    );
    // hot_long does twice the work of hot_short; loop overhead pulls the ratio down a bit.
    let ratio = long as f64 / short as f64;
    assert!(
        (1.3..=3.0).contains(&ratio),
        "hot_long/hot_short = {long}/{short} = {ratio:.2}, not about 2:\n{stdout}"
    );
}

/// `stack count` lines, split into frames.
fn folded(stdout: &str) -> Vec<(Vec<&str>, u64)> {
    stdout
        .lines()
        .map(|line| {
            let (stack, count) = line.rsplit_once(' ').expect("`stack count` lines");
            let count = count.parse().expect("a count");
            (stack.split(';').collect(), count)
        })
        .collect()
}

/// Thousands of distinct stacks, sampled fast: every one is kept whole (none lost to a
/// stack map's hash slots, the profile exits 0) and each descends correctly.
#[test]
fn thousands_of_distinct_stacks_are_all_kept() {
    let cgroup = TestCgroup::create("profile-branches");
    let inside = workload("branches");
    cgroup.add(inside.pid());
    let mut workloads = [inside];
    let (_, stdout) = profile(
        &cgroup,
        &["-o", "folded", "--stacks", "user", "-F", "4999"],
        &mut workloads,
    );
    let stacks = folded(&stdout);
    let mut paths = std::collections::HashSet::new();
    for (frames, _) in &stacks {
        assert!(
            !frames.iter().any(|frame| frame.contains("lost")),
            "a stack was lost: {frames:?}"
        );
        let Some(leaf) = frames
            .iter()
            .position(|frame| *frame == "profile_workload::leaf")
        else {
            continue;
        };
        // From `branches` down: `step`, then `left` or `right` and `step` again, per
        // level (the compiler may fold the last `step` into its caller).
        let top = frames
            .iter()
            .position(|frame| *frame == "profile_workload::branches")
            .unwrap_or_else(|| panic!("a leaf without `branches` above it: {frames:?}"));
        let below = &frames[top + 1..leaf];
        assert!(
            below.iter().all(|frame| [
                "profile_workload::step",
                "profile_workload::left",
                "profile_workload::right"
            ]
            .contains(frame)),
            "{frames:?}"
        );
        let path: Vec<&str> = below
            .iter()
            .copied()
            .filter(|frame| *frame != "profile_workload::step")
            .collect();
        assert_eq!(path.len(), 11, "11 turns to a leaf: {frames:?}");
        paths.insert(path);
    }
    assert!(
        paths.len() >= 1_000,
        "only {} distinct paths to a leaf of 2,048 were sampled",
        paths.len()
    );
}

#[test]
fn a_syscall_loop_shows_kernel_frames_in_the_json_profile() {
    let cgroup = TestCgroup::create("profile-sys");
    let reader = workload("read");
    cgroup.add(reader.pid());
    let mut workloads = [reader];
    let (_, stdout) = profile(&cgroup, &["-o", "json"], &mut workloads);

    let profile: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(profile["schema"], "kubectl-ebpf/profile/v1");
    assert_eq!(profile["frequency_hz"], 99);
    assert_eq!(profile["lost"], 0);
    // What the profile cost, measured on the node.
    assert_eq!(profile["overhead"]["nodes"], 1, "{stdout}");
    assert!(profile["overhead"]["tracer_cpu_ns"].is_u64(), "{stdout}");
    let samples = profile["samples"].as_u64().expect("samples");
    let stacks = profile["stacks"].as_array().expect("stacks");
    let in_kernel: u64 = stacks
        .iter()
        .filter(|stack| stack["stack"].as_str().is_some_and(|s| s.ends_with("_[k]")))
        .map(|stack| stack["count"].as_u64().expect("count"))
        .sum();
    assert!(samples >= 10, "too few samples: {stdout}");
    // Reading /dev/zero spends its time zeroing the buffer in the kernel.
    assert!(
        in_kernel * 2 >= samples,
        "{in_kernel} of {samples} samples in the kernel: {stdout}"
    );
    let functions = profile["functions"].as_array().expect("functions");
    let named = |pattern: &str| {
        functions.iter().any(|function| {
            function["name"]
                .as_str()
                .is_some_and(|name| name.ends_with("_[k]") && name.contains(pattern))
        })
    };
    assert!(named("read"), "no kernel read function: {stdout}");
    // The kernel frames sit on the user frames of the call that entered it.
    assert!(
        stacks.iter().any(|stack| stack["stack"]
            .as_str()
            .is_some_and(|s| s.contains("profile_workload::read_zero;") && s.ends_with("_[k]"))),
        "no kernel stack under read_zero: {stdout}"
    );
}

#[test]
fn off_cpu_time_goes_to_the_sleeping_function_in_microseconds() {
    let cgroup = TestCgroup::create("profile-off");
    let inside = workload("sleep");
    let outside = workload("sleep");
    cgroup.add(inside.pid());
    let mut workloads = [inside, outside];
    let (_, stdout) = profile(&cgroup, &["--off-cpu", "-o", "folded"], &mut workloads);

    let root = root(&cgroup);
    let mut sleepy_us = 0;
    let mut kernel_frames = false;
    for line in stdout.lines() {
        let (stack, value) = line.rsplit_once(' ').expect("`stack value` lines");
        let value: u64 = value.parse().expect("microseconds");
        let frames: Vec<&str> = stack.split(';').collect();
        assert_eq!(frames[0], root, "a stack from outside the target: {line}");
        if frames.contains(&"profile_workload::sleepy") {
            sleepy_us += value;
            // It blocked in the kernel, in the sleep it asked for.
            kernel_frames |= frames
                .iter()
                .any(|frame| frame.ends_with("_[k]") && frame.contains("nanosleep"));
        }
    }
    // sleepy sleeps for the whole WORK_MS, 10 ms at a time (each over 1 ms, so none is
    // left out); the loop between sleeps runs on the CPU and the last sleep may overrun.
    let work_us: u64 = WORK_MS.parse::<u64>().expect("millis") * 1000;
    assert!(
        (work_us * 85 / 100..=work_us * 105 / 100).contains(&sleepy_us),
        "sleepy blocked {sleepy_us} us of {work_us}:\n{stdout}"
    );
    assert!(
        kernel_frames,
        "no nanosleep kernel frame under sleepy:\n{stdout}"
    );
}

#[test]
fn a_stripped_binary_is_named_from_its_debug_file_found_by_build_id() {
    let dir = ScratchDir::new("profile-stripped");
    let stripped = dir.0.join("profile-workload");
    let debug = dir.0.join("profile-workload.debug");
    run(
        "objcopy",
        &[
            "--only-keep-debug".as_ref(),
            WORKLOAD.as_ref(),
            debug.as_os_str(),
        ],
    );
    fs::copy(WORKLOAD, &stripped).expect("copy the workload");
    run("strip", &["--strip-all".as_ref(), stripped.as_os_str()]);

    let sample = |cgroup: &TestCgroup| {
        let inside = Workload::start_at(&stripped, &["spin".to_owned(), WORK_MS.to_owned()]);
        cgroup.add(inside.pid());
        profile(cgroup, &["-o", "folded"], &mut [inside]).1
    };

    // Without its debug file the stripped binary's frames stay, as file and offset.
    let cgroup = TestCgroup::create("profile-stripped");
    let bare = sample(&cgroup);
    assert!(!bare.contains("hot_long"), "named without symbols:\n{bare}");
    assert!(
        bare.contains(";profile-workload+0x"),
        "no module+offset frame of the stripped binary:\n{bare}"
    );

    // Installed where debug packages put it, it names them.
    let installed = DebugFileInstalled::at(&build_id_path(&stripped), &debug);
    let cgroup = TestCgroup::create("profile-debug-file");
    let named = sample(&cgroup);
    drop(installed);
    for function in ["profile_workload::hot_long", "profile_workload::hot_short"] {
        assert!(
            named.contains(&format!(";{function} ")),
            "{function} not named from the debug file:\n{named}"
        );
    }
}

fn run(program: &str, args: &[&std::ffi::OsStr]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|err| panic!("{program}: {err} (binutils is needed)"));
    assert!(status.success(), "{program} {args:?} exited {status}");
}

/// `/usr/lib/debug/.build-id/XX/REST.debug` for the GNU build id `readelf` reads in `binary`.
fn build_id_path(binary: &Path) -> PathBuf {
    let output = Command::new("readelf")
        .arg("-n")
        .arg(binary)
        .output()
        .expect("readelf (binutils)");
    let notes = String::from_utf8_lossy(&output.stdout);
    let build_id = notes
        .lines()
        .find_map(|line| line.trim().strip_prefix("Build ID: "))
        .unwrap_or_else(|| panic!("no build id in {}:\n{notes}", binary.display()));
    let (first, rest) = build_id.split_at(2);
    PathBuf::from(format!("/usr/lib/debug/.build-id/{first}/{rest}.debug"))
}

/// A directory of this test's own files, removed at the end.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kubectl-ebpf-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create a scratch directory");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A debug file installed on this machine for the length of a test.
struct DebugFileInstalled(PathBuf);

impl DebugFileInstalled {
    fn at(path: &Path, debug: &Path) -> Self {
        fs::create_dir_all(path.parent().expect("a directory")).expect("create the directory");
        fs::copy(debug, path).expect("install the debug file");
        DebugFileInstalled(path.to_path_buf())
    }
}

impl Drop for DebugFileInstalled {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[test]
fn the_flame_graph_is_well_formed_xml_and_names_the_hot_functions() {
    let cgroup = TestCgroup::create("profile-svg");
    let inside = workload("spin");
    cgroup.add(inside.pid());
    let mut workloads = [inside];
    let (_, svg) = profile(&cgroup, &["-o", "svg"], &mut workloads);

    let root = check_xml(&svg).unwrap_or_else(|err| panic!("{err}:\n{svg}"));
    assert_eq!(root, "svg");
    for function in ["profile_workload::hot_long", "profile_workload::hot_short"] {
        assert!(
            svg.contains(&format!("<title>{function} (")),
            "no frame titled {function}:\n{svg}"
        );
    }
}

/// Checks that `text` is one well-formed XML element (tags balanced and nested, attribute
/// values quoted, `&` only in entities, CDATA and comments closed), with only a prolog,
/// comments or whitespace around it; its root element's name.
fn check_xml(text: &str) -> Result<String, String> {
    let mut open: Vec<&str> = Vec::new();
    let mut root: Option<String> = None;
    let mut rest = text;
    while !rest.is_empty() {
        let Some(start) = rest.find('<') else {
            check_text(rest, open.is_empty())?;
            break;
        };
        check_text(&rest[..start], open.is_empty())?;
        rest = &rest[start..];
        let mut skipped = false;
        for (opener, closer) in [("<![CDATA[", "]]>"), ("<!--", "-->"), ("<?", "?>")] {
            if let Some(after) = rest.strip_prefix(opener) {
                let end = after
                    .find(closer)
                    .ok_or_else(|| format!("unclosed {opener}"))?;
                rest = &after[end + closer.len()..];
                skipped = true;
                break;
            }
        }
        if skipped {
            continue;
        }
        if rest.starts_with("<!") {
            // DOCTYPE: no internal subset in what inferno writes.
            let end = rest.find('>').ok_or("unclosed <!DOCTYPE")?;
            rest = &rest[end + 1..];
            continue;
        }
        let end = tag_end(rest)?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            let top = open
                .pop()
                .ok_or_else(|| format!("</{name}> closes nothing"))?;
            if top != name {
                return Err(format!("</{name}> closes <{top}>"));
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name = body.split_whitespace().next().ok_or("an empty tag")?;
        check_attributes(&body[name.len()..])?;
        if open.is_empty() {
            if root.is_some() {
                return Err(format!("a second root element <{name}>"));
            }
            root = Some(name.to_owned());
        }
        if !self_closing {
            open.push(name);
        }
    }
    if let Some(top) = open.pop() {
        return Err(format!("<{top}> is never closed"));
    }
    root.ok_or_else(|| "no element".to_owned())
}

/// The index of the `>` ending the tag `text` starts with, outside quoted values.
fn tag_end(text: &str) -> Result<usize, String> {
    let mut quote = None;
    for (i, c) in text.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Ok(i),
            (None, '<') => return Err(format!("'<' inside a tag: {}", &text[..i])),
            _ => {}
        }
    }
    Err("an unclosed tag".to_owned())
}

/// `name="value"` pairs, each value quoted and its `&`s entities.
fn check_attributes(mut text: &str) -> Result<(), String> {
    loop {
        text = text.trim_start();
        if text.is_empty() {
            return Ok(());
        }
        let eq = text
            .find('=')
            .ok_or_else(|| format!("an attribute without a value: {text}"))?;
        let value = text[eq + 1..].trim_start();
        let quote = value
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .ok_or_else(|| format!("an unquoted value: {text}"))?;
        let close = value[1..]
            .find(quote)
            .ok_or_else(|| format!("an unclosed value: {text}"))?;
        check_entities(&value[1..1 + close])?;
        text = &value[close + 2..];
    }
}

/// Character data: entities only, and nothing but whitespace outside the root.
fn check_text(text: &str, outside: bool) -> Result<(), String> {
    if outside && !text.trim().is_empty() {
        return Err(format!("text outside the root element: {text:?}"));
    }
    check_entities(text)
}

fn check_entities(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i + 1..];
        let named = entity.find(';').is_some_and(|end| {
            end > 0
                && entity[..end]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '#')
        });
        if !named {
            return Err(format!("a bare '&': {}", &entity[..entity.len().min(20)]));
        }
    }
    Ok(())
}

#[test]
fn the_xml_check_finds_what_is_wrong() {
    assert_eq!(
        check_xml(
            r#"<?xml version="1.0"?><!DOCTYPE svg><svg a="1"><g><![CDATA[ a<b ]]><![CDATA[ c>d ]]><title>x &amp; y</title><rect/></g></svg>"#
        ),
        Ok("svg".to_owned())
    );
    assert!(check_xml("<svg><g></svg>").is_err());
    assert!(check_xml("<svg><g></g>").is_err());
    assert!(check_xml("<svg a=1></svg>").is_err());
    assert!(check_xml("<svg>a & b</svg>").is_err());
    assert!(check_xml("<svg></svg><svg></svg>").is_err());
}
