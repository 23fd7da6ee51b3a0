//! The completion scripts under `completions/` must match the CLI. Regenerate them with
//! `UPDATE_COMPLETIONS=1 cargo test -p kubectl-ebpf --test completions`.

use std::path::Path;

use kubectl_ebpf::completions::{SHIPPED, generate};

#[test]
fn shipped_completions_are_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../completions");
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some();
    for (shell, file) in SHIPPED {
        let path = dir.join(file);
        let fresh = generate(shell);
        if update {
            std::fs::write(&path, &fresh).expect("write completions");
            continue;
        }
        let shipped = std::fs::read(&path).unwrap_or_default();
        assert!(
            shipped == fresh,
            "{} is stale; run `UPDATE_COMPLETIONS=1 cargo test -p kubectl-ebpf --test completions`",
            path.display()
        );
    }
}
