//! What a person at a terminal sees: the live view (`--interval` on a terminal) redraws
//! in place in an 80×24 tmux pane, with the progress line under it, and leaves only the
//! result when the trace ends; piped output holds no escape codes.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use e2e::binaries;

/// A detached tmux server of its own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("kubectl-ebpf-test-{}", std::process::id()),
        };
        let status = tmux
            .command()
            .args(["new-session", "-d", "-x", "80", "-y", "24", command])
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux did not start");
        tmux
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p"])
            .output()
            .expect("capture the pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The screen once `done` says it is what the test waits for.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no {what} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

const TITLE: &str = "syscall-count after";

#[test]
fn the_live_view_redraws_in_place_and_leaves_only_the_result() {
    let plugin = binaries::plugin();
    let tmux = Tmux::start(&format!(
        "{} trace syscall-count --local --interval 1s -d 4s --top 5; echo EXIT=$?; sleep 60",
        plugin.display()
    ));
    // The first frame may come before the first snapshot; wait for one with counts.
    let live = tmux.wait_for("live view", |screen| {
        screen.contains(TITLE) && screen.contains(" SYSCALL ")
    });
    assert_eq!(
        live.matches(TITLE).count(),
        1,
        "one frame at a time:\n{live}"
    );
    assert!(
        live.contains("tracing (attached in"),
        "the progress line:\n{live}"
    );
    // A later frame replaces the first rather than adding below it.
    let later = tmux.wait_for("second frame", |screen| {
        screen.contains("syscall-count after 2s") || screen.contains("syscall-count after 3s")
    });
    assert_eq!(later.matches(TITLE).count(), 1, "{later}");

    let end = tmux.wait_for("end", |screen| screen.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(!end.contains(TITLE), "the live view is gone:\n{end}");
    assert!(!end.contains("tracing (attached in"), "{end}");
    assert!(end.contains("syscall-count calls (top 5 of"), "{end}");
    assert!(end.lines().count() <= 24);
}

#[test]
fn piped_output_has_no_escape_codes_even_when_a_live_view_is_asked_for() {
    let output = Command::new(binaries::plugin())
        .args([
            "trace",
            "syscall-count",
            "--local",
            "--interval",
            "500ms",
            "-d",
            "2s",
        ])
        .output()
        .expect("run kubectl-ebpf");
    assert!(output.status.success(), "{output:?}");
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "{stream} has an escape code: {}",
            String::from_utf8_lossy(bytes)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.matches("syscall-count calls (top").count(),
        1,
        "{stdout}"
    );
}
