//! Compiles the eBPF programs under `ebpf/probes` for the BPF target and leaves one
//! object per probe in `OUT_DIR`, which `src/probes` embeds.

use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

/// Must match `rust-toolchain.toml`.
const TOOLCHAIN: &str = "1.98.0";

fn main() -> anyhow::Result<()> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?;
    let probes_dir = std::path::Path::new(&manifest_dir)
        .join("../ebpf/probes")
        .canonicalize()
        .context("ebpf/probes not found")?;
    let probes_dir = probes_dir
        .to_str()
        .ok_or_else(|| anyhow!("non UTF-8 path {}", probes_dir.display()))?;
    // The BPF target needs `-Z build-std=core`. Unlock it for this child build only; our
    // own crates stay on stable.
    // SAFETY: build scripts are single-threaded.
    unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "1") };
    aya_build::build_ebpf(
        [Package {
            name: "ebpf-probes",
            root_dir: probes_dir,
            ..Default::default()
        }],
        Toolchain::Custom(TOOLCHAIN),
    )
}
