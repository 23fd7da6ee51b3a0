//! Builds `profile-workload` a second time, optimized and with frame pointers, into
//! OUT_DIR: the profiler unwinds user stacks by frame pointers, which rustc leaves out by
//! default, and Cargo cannot set a codegen flag for one binary of a package. The tests
//! find it through `PROFILE_WORKLOAD_FP`.

use std::{env, path::PathBuf, process::Command};

const SOURCE: &str = "src/bin/profile_workload.rs";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let binary = out.join("profile-workload-fp");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "-C",
            "opt-level=2",
            "-C",
            "force-frame-pointers=yes",
            "-C",
            "debuginfo=0",
            "-o",
        ])
        .arg(&binary)
        .arg(SOURCE)
        .status()
        .expect("run rustc");
    assert!(status.success(), "rustc failed to build {SOURCE}: {status}");
    println!("cargo:rustc-env=PROFILE_WORKLOAD_FP={}", binary.display());
}
