//! The project's binaries, from the same target directory as the running test.

use std::path::PathBuf;

/// `target/<profile>/<name>`, which `cargo test` builds for every package with tests.
pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test>-<hash> or target/<profile>/<bin>
    let mut dir = exe.parent().expect("in a directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let binary = dir.join(name);
    assert!(
        binary.is_file(),
        "{} is missing; run the suite with `cargo test` from the workspace root, which builds it",
        binary.display()
    );
    binary
}

pub fn plugin() -> PathBuf {
    path("kubectl-ebpf")
}

pub fn tracer() -> PathBuf {
    path("tracer-job")
}
