//! Shell completion scripts, generated from the clap definitions. The copies under
//! `completions/` are kept fresh by a test.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Every shell we ship a script for, with the file name it is kept under.
pub const SHIPPED: [(Shell, &str); 4] = [
    (Shell::Bash, "kubectl-ebpf.bash"),
    (Shell::Zsh, "_kubectl-ebpf"),
    (Shell::Fish, "kubectl-ebpf.fish"),
    (Shell::PowerShell, "kubectl-ebpf.ps1"),
];

pub fn generate(shell: Shell) -> Vec<u8> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "kubectl-ebpf", &mut out);
    out
}
