//! `kubectl_complete-ebpf`: kubectl runs it (from PATH, next to `kubectl-ebpf`) to
//! complete `kubectl ebpf ...` in every shell kubectl completes.

use std::io::Write;

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let _ = std::io::stdout().write_all(kubectl_ebpf::complete::complete(&words).as_bytes());
}
