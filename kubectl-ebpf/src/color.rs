//! Color, on a terminal only: never when the stream is not a TTY, and never when
//! NO_COLOR is set to anything but the empty string (https://no-color.org).

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
};

/// Whether results written to stdout are colored; decided once in `main`, off
/// otherwise (so output captured in tests and pipes is plain).
static STDOUT: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Error,
    Warning,
    /// A histogram's bars.
    Bar,
}

impl Style {
    fn sgr(self) -> &'static str {
        match self {
            Style::Error => "1;31",
            Style::Warning => "33",
            Style::Bar => "36",
        }
    }
}

fn allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Decides, once, whether stdout gets color.
pub fn init_stdout() {
    STDOUT.store(
        allowed() && std::io::stdout().is_terminal(),
        Ordering::Relaxed,
    );
}

pub fn stdout() -> bool {
    STDOUT.load(Ordering::Relaxed)
}

pub fn stderr() -> bool {
    allowed() && std::io::stderr().is_terminal()
}

/// `text` in `style` when `enabled`, else as it is.
pub fn paint(text: &str, style: Style, enabled: bool) -> String {
    if enabled && !text.is_empty() {
        format!("\x1b[{}m{text}\x1b[0m", style.sgr())
    } else {
        text.to_owned()
    }
}

/// `warning:`, yellow on a terminal.
pub fn warning_label() -> String {
    paint("warning:", Style::Warning, stderr())
}

/// `error:`, bold red on a terminal.
pub fn error_label() -> String {
    paint("error:", Style::Error, stderr())
}

/// Prints a warning line on stderr: `warning: ...`, its label colored on a terminal.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        eprintln!("{} {}", $crate::color::warning_label(), format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painted_only_when_enabled() {
        assert_eq!(paint("@@", Style::Bar, false), "@@");
        assert_eq!(paint("@@", Style::Bar, true), "\x1b[36m@@\x1b[0m");
        assert_eq!(paint("", Style::Bar, true), "");
    }
}
