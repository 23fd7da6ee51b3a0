//! A tracer killed with SIGKILL runs no cleanup of its own, so nothing it loaded may
//! outlive its file descriptors: no pinned program, link or map, no attachment that holds
//! a program by itself.

use std::{
    collections::BTreeSet,
    fs,
    time::{Duration, Instant},
};

use aya::{
    maps::loaded_maps,
    programs::{loaded_links, loaded_programs},
};
use e2e::{cgroup::TestCgroup, tracer::TracerRun};
use tracer_protocol::{ProbeSpec, Targets, TraceSpec};

/// The BPF objects a process holds, by kernel id, read from its fds' `fdinfo`.
#[derive(Debug, Default)]
struct Held {
    programs: BTreeSet<u32>,
    links: BTreeSet<u32>,
    maps: BTreeSet<u32>,
}

fn held_by(pid: u32) -> Held {
    let mut held = Held::default();
    let dir = format!("/proc/{pid}/fdinfo");
    for entry in fs::read_dir(&dir).unwrap_or_else(|err| panic!("read {dir}: {err}")) {
        let path = entry.expect("fdinfo entry").path();
        // An fd closed since the listing is not ours to count.
        let Ok(info) = fs::read_to_string(&path) else {
            continue;
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<u32>().ok())
        };
        // A link's fdinfo names its program too; the program is counted from its own fd.
        if let Some(id) = field("link_id:") {
            held.links.insert(id);
        } else if let Some(id) = field("prog_id:") {
            held.programs.insert(id);
        } else if let Some(id) = field("map_id:") {
            held.maps.insert(id);
        }
    }
    held
}

/// What the kernel has loaded now, by id: programs with their names, link ids with their
/// program ids, map ids.
struct Loaded {
    programs: Vec<(u32, String)>,
    links: Vec<(u32, u32)>,
    maps: BTreeSet<u32>,
}

fn loaded() -> Loaded {
    let programs = loaded_programs()
        .filter_map(Result::ok)
        .map(|info| {
            let name = info.name_as_str().unwrap_or_default().to_owned();
            (info.id(), name)
        })
        .collect();
    let links = loaded_links()
        .filter_map(Result::ok)
        .map(|info| (info.id(), info.program_id()))
        .collect();
    let maps = loaded_maps()
        .filter_map(Result::ok)
        .map(|info| info.id())
        .collect();
    Loaded {
        programs,
        links,
        maps,
    }
}

#[test]
fn sigkill_leaves_no_program_link_or_map_loaded() {
    let cgroup = TestCgroup::create("sigkill");
    let spec = TraceSpec::new(
        vec![
            ProbeSpec::SyscallLatency {
                by_syscall: true,
                min_latency_ns: 0,
                per_pod: false,
            },
            ProbeSpec::Exec {
                filter: Default::default(),
            },
        ],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();

    let held = held_by(tracer.pid());
    let Loaded {
        programs,
        links,
        maps,
    } = loaded();
    let ours: Vec<&str> = programs
        .iter()
        .filter(|(id, _)| held.programs.contains(id))
        .map(|(_, name)| name.as_str())
        .collect();
    // Kernel names are cut at 15 bytes: both syscall-latency programs read the same.
    assert!(
        ours.contains(&"syscall_latency"),
        "the kernel does not list the syscall-latency programs as loaded by the tracer: {ours:?} of {held:?}"
    );
    assert!(
        ours.iter().filter(|name| name.starts_with("exec_")).count() >= 3,
        "the kernel does not list the exec programs as loaded by the tracer: {ours:?}"
    );
    let attached: Vec<u32> = links
        .iter()
        .filter(|(_, program)| held.programs.contains(program))
        .map(|(id, _)| *id)
        .collect();
    assert!(
        !attached.is_empty() && attached.iter().all(|id| held.links.contains(id)),
        "the tracer's programs are attached through links it holds: links {attached:?}, held {held:?}"
    );
    assert!(
        held.maps.iter().all(|id| maps.contains(id)),
        "maps {held:?} are loaded: {maps:?}"
    );

    let status = tracer.kill();
    assert!(!status.success(), "SIGKILL ended the tracer: {status}");

    // Freeing happens as the last reference goes, some of it deferred: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let Loaded {
            programs,
            links,
            maps,
        } = loaded();
        let programs: Vec<_> = programs
            .into_iter()
            .filter(|(id, _)| held.programs.contains(id))
            .collect();
        let links: Vec<_> = links
            .into_iter()
            .filter(|(id, program)| held.links.contains(id) || held.programs.contains(program))
            .collect();
        let maps: Vec<_> = maps
            .into_iter()
            .filter(|id| held.maps.contains(id))
            .collect();
        if programs.is_empty() && links.is_empty() && maps.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "5 s after SIGKILL the kernel still holds programs {programs:?}, links {links:?}, maps {maps:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
