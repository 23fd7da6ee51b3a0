//! The terminal the result is printed on, when it is one.

/// Rows and columns of the terminal on stdout; `None` when stdout is not a terminal.
#[cfg(unix)]
pub fn size() -> Option<(usize, usize)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only fills the struct it is given.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 0 && size.ws_col > 0)
        .then(|| (usize::from(size.ws_row), usize::from(size.ws_col)))
}

#[cfg(not(unix))]
pub fn size() -> Option<(usize, usize)> {
    None
}

/// Columns to fit output to: the terminal's, else `COLUMNS`, else 100.
pub fn width() -> usize {
    size()
        .map(|(_, columns)| columns)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .filter(|columns| *columns >= 40)
        .unwrap_or(100)
}
