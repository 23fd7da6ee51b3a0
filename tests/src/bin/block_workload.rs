//! A process that makes an exact number of direct (O_DIRECT) 4 KiB reads and writes on
//! a block device when told to, so each is one block request.
//!
//! `block-workload DEVICE READS WRITES`: prints `ready`, waits for a line on stdin,
//! writes WRITES blocks then reads READS blocks at distinct offsets, prints `done`, then
//! waits for stdin to close and exits.

use std::{
    alloc::{Layout, alloc_zeroed, dealloc},
    fs::OpenOptions,
    io::{BufRead, Write},
    os::unix::fs::{FileExt, OpenOptionsExt},
};

const BLOCK: usize = 4096;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(device), Some(reads), Some(writes)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
        args.get(2).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: block-workload DEVICE READS WRITES");
        std::process::exit(2)
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(device)
        .unwrap_or_else(|err| {
            eprintln!("block-workload: open {device}: {err}");
            std::process::exit(1)
        });
    let layout = Layout::from_size_align(BLOCK, BLOCK).expect("a valid layout");
    // SAFETY: a non-zero size; freed below.
    let buffer = unsafe { alloc_zeroed(layout) };
    assert!(!buffer.is_null(), "out of memory");
    // SAFETY: `buffer` holds BLOCK bytes, aligned as O_DIRECT needs.
    let block = unsafe { std::slice::from_raw_parts_mut(buffer, BLOCK) };

    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    for i in 0..writes {
        block[0] = i as u8;
        if let Err(err) = file.write_all_at(block, i * BLOCK as u64) {
            eprintln!("block-workload: write: {err}");
            std::process::exit(1)
        }
    }
    for i in 0..reads {
        if let Err(err) = file.read_exact_at(block, i * BLOCK as u64) {
            eprintln!("block-workload: read: {err}");
            std::process::exit(1)
        }
    }
    let _ = writeln!(stdout, "done");
    let _ = stdout.flush();
    // SAFETY: allocated above with the same layout.
    unsafe { dealloc(buffer, layout) };
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .is_ok_and(|n| n > 0)
    {}
}
