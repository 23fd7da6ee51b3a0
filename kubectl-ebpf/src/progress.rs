//! What the user sees while a trace runs: on a terminal, one live line per node (why it
//! is waiting, then a countdown while it traces), cleared before the result is printed;
//! elsewhere, plain lines on stderr.

use std::{
    collections::BTreeMap,
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::units::format_ns;

pub struct ProgressView {
    bars: Option<Bars>,
    duration: Option<Duration>,
    /// Lines of the live view now on the screen, redrawn in place.
    frame_lines: usize,
}

struct Bars {
    multi: MultiProgress,
    nodes: BTreeMap<String, NodeBar>,
}

struct NodeBar {
    bar: ProgressBar,
    tracing_since: Option<Instant>,
    attach_ms: u64,
}

impl ProgressView {
    /// Live bars only when stderr is a terminal and the user did not ask for quiet output.
    pub fn new(duration_ms: Option<u64>) -> Self {
        let live = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let bars = live.then(|| Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            nodes: BTreeMap::new(),
        });
        ProgressView {
            bars,
            duration: duration_ms.map(Duration::from_millis),
            frame_lines: 0,
        }
    }

    fn bar(&mut self, node: &str) -> Option<&mut NodeBar> {
        let bars = self.bars.as_mut()?;
        let multi = bars.multi.clone();
        Some(bars.nodes.entry(node.to_owned()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(node.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            NodeBar {
                bar,
                tracing_since: None,
                attach_ms: 0,
            }
        }))
    }

    /// A node is not tracing yet, and why.
    pub fn waiting(&mut self, node: &str, why: &str) {
        match self.bar(node) {
            Some(entry) => entry.bar.set_message(why.to_owned()),
            None => eprintln!("{node}: {why}"),
        }
    }

    /// A node's probes are attached.
    pub fn attached(&mut self, node: &str, ms: u64) {
        let until = self.duration.map_or_else(
            || "until Ctrl-C".to_owned(),
            |d| format!("for {}", format_ns(d.as_nanos() as f64)),
        );
        match self.bar(node) {
            Some(entry) => {
                entry.tracing_since = Some(Instant::now());
                entry.attach_ms = ms;
            }
            None => {
                eprintln!("Tracing on {node} (attached in {ms} ms) {until}; Ctrl-C ends early.")
            }
        }
        self.tick();
    }

    /// A node is done, well or not. Plain output says nothing here: the result, and its
    /// warnings for nodes that failed, follow at once.
    pub fn ended(&mut self, node: &str, how: &str) {
        if let Some(entry) = self.bar(node) {
            entry.tracing_since = None;
            entry.bar.set_message(how.to_owned());
            entry.bar.disable_steady_tick();
        }
    }

    /// Prints lines of the result on stdout while the trace runs, above the live lines.
    pub fn print_lines(&self, lines: &[String]) {
        let print = || {
            let mut stdout = std::io::stdout().lock();
            for line in lines {
                // A closed pipe (`| head`) only ends the output, not the trace.
                let _ = writeln!(stdout, "{line}");
            }
            let _ = stdout.flush();
        };
        match &self.bars {
            Some(bars) => bars.multi.suspend(print),
            None => print(),
        }
    }

    /// Draws the live view: replaces the frame drawn last with `lines`, on stdout (a
    /// terminal), above the progress lines.
    pub fn redraw(&mut self, lines: &[String]) {
        let previous = self.frame_lines;
        let draw = || {
            let mut stdout = std::io::stdout().lock();
            if previous > 0 {
                // Up to the first line of the last frame, and clear from there down.
                let _ = write!(stdout, "\x1b[{previous}F\x1b[J");
            }
            for line in lines {
                let _ = writeln!(stdout, "{line}");
            }
            let _ = stdout.flush();
        };
        match &self.bars {
            Some(bars) => bars.multi.suspend(draw),
            None => draw(),
        }
        self.frame_lines = lines.len();
    }

    /// Takes the live view off the screen, for the result to take its place.
    pub fn clear_frame(&mut self) {
        if self.frame_lines > 0 {
            self.redraw(&[]);
        }
    }

    /// Refreshes the countdowns.
    pub fn tick(&mut self) {
        let duration = self.duration;
        let Some(bars) = self.bars.as_mut() else {
            return;
        };
        for entry in bars.nodes.values() {
            let Some(since) = entry.tracing_since else {
                continue;
            };
            let left = match duration {
                Some(total) => {
                    let left = total.saturating_sub(since.elapsed()).as_secs();
                    format!("{left}s left")
                }
                None => format!("{}s, Ctrl-C to stop", since.elapsed().as_secs()),
            };
            entry.bar.set_message(format!(
                "tracing (attached in {} ms), {left}",
                entry.attach_ms
            ));
        }
    }

    /// Removes the live lines before the result is printed.
    pub fn finish(&mut self) {
        if let Some(bars) = self.bars.take() {
            for entry in bars.nodes.values() {
                entry.bar.finish_and_clear();
            }
            let _ = bars.multi.clear();
        }
    }
}

impl Drop for ProgressView {
    fn drop(&mut self) {
        self.finish();
    }
}
