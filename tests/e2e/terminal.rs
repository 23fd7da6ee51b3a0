//! What a person at a terminal sees: the live view (`--interval` on a terminal) redraws
//! in place in an 80×24 tmux pane, with the progress line under it, and leaves only the
//! result when the trace ends; piped output holds no escape codes.

use std::{
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use e2e::binaries;

/// A detached tmux server of its own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        // A server per instance: tests run in parallel threads of one process.
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let tmux = Tmux {
            socket: format!(
                "kubectl-ebpf-test-{}-{}",
                std::process::id(),
                STARTED.fetch_add(1, Ordering::Relaxed)
            ),
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
        self.capture(&["-p"])
    }

    /// The screen with its colors and attributes as escape codes.
    fn screen_with_colors(&self) -> String {
        self.capture(&["-p", "-e"])
    }

    fn capture(&self, args: &[&str]) -> String {
        let output = self
            .command()
            .arg("capture-pane")
            .args(args)
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

/// The screen of `kubectl-ebpf ARGS` run to its end in a terminal, with colors.
fn colored_screen(env: &str, args: &str) -> String {
    let plugin = binaries::plugin();
    let tmux = Tmux::start(&format!(
        "{env} {} {args}; echo EXIT=$?; sleep 60",
        plugin.display()
    ));
    tmux.wait_for("end", |screen| screen.contains("EXIT="));
    tmux.screen_with_colors()
}

#[test]
fn a_terminal_gets_colored_bars_and_labels_and_no_color_gets_none() {
    let args = "trace syscall-latency --local -d 1s";
    let colored = colored_screen("", args);
    // Cyan histogram bars (tmux writes the color back as SGR 36).
    assert!(colored.contains("\x1b[36m@"), "{colored:?}");
    let refused = colored_screen("", "trace syscall-latency deploy/x --local");
    assert!(
        refused.contains("\x1b[1m\x1b[31merror:") || refused.contains("\x1b[1;31merror:"),
        "{refused:?}"
    );

    for (env, args) in [
        ("NO_COLOR=1", args),
        ("NO_COLOR=1", "trace syscall-latency deploy/x --local"),
    ] {
        let plain = colored_screen(env, args);
        assert!(plain.contains("EXIT="), "{plain}");
        assert!(
            !plain.contains("\x1b[3") && !plain.contains("\x1b[1;3"),
            "colors despite NO_COLOR: {plain:?}"
        );
    }
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
