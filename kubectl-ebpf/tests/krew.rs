//! The krew manifest: packed from this build and rendered by the release scripts, it must
//! be what krew accepts (its fields, one platform per supported OS and architecture) and
//! must name files the archives really hold.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

const PLATFORMS: [(&str, &str); 4] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

fn run(command: &mut Command) -> String {
    let output = command.output().expect("run a release script");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Packs stand-ins named as this crate's two executables (their names are what the
/// manifest must match; packing real multi-megabyte debug builds four times would only
/// be slow) under every platform's name, and renders the manifest for them.
fn render(dist: &Path) -> Value {
    let bin_dir = dist.join("bin");
    std::fs::create_dir_all(&bin_dir).expect("a bin directory");
    for built in [
        env!("CARGO_BIN_EXE_kubectl-ebpf"),
        env!("CARGO_BIN_EXE_kubectl_complete-ebpf"),
    ] {
        let name = Path::new(built).file_name().expect("a file name");
        std::fs::write(bin_dir.join(name), b"#!/bin/sh\n").expect("a stand-in");
    }
    let version = env!("CARGO_PKG_VERSION");
    for (os, arch) in PLATFORMS {
        run(Command::new(root().join("krew/package.sh"))
            .arg(&bin_dir)
            .arg(version)
            .arg(format!("{os}-{arch}"))
            .arg(dist));
    }
    let rendered = run(Command::new(root().join("krew/render.sh"))
        .arg(version)
        .arg(dist));
    assert!(!rendered.contains("{{"), "placeholders left: {rendered}");
    serde_saphyr::from_str(&rendered).expect("the manifest is YAML")
}

fn archive_files(archive: &Path) -> Vec<String> {
    run(Command::new("tar").arg("-tzf").arg(archive))
        .lines()
        .map(|line| line.trim_start_matches("./").to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

fn sha256(path: &Path) -> String {
    run(Command::new("sha256sum").arg(path))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A glob of krew's `files.from`: a literal, or a prefix ending in `*`.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

#[test]
fn the_rendered_manifest_is_what_krew_accepts_and_matches_the_archives() {
    let dist = std::env::temp_dir().join(format!("kubectl-ebpf-krew-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dist);
    let manifest = render(&dist);

    assert_eq!(
        manifest["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(manifest["kind"], "Plugin");
    // krew runs `kubectl-<name>`: the name is the binary's suffix.
    assert_eq!(manifest["metadata"]["name"], "ebpf");
    let spec = &manifest["spec"];
    assert_eq!(
        spec["version"],
        format!("v{}", env!("CARGO_PKG_VERSION")),
        "a v-prefixed semantic version"
    );
    let short = spec["shortDescription"].as_str().expect("shortDescription");
    assert!(!short.is_empty() && short.len() <= 50, "{short}");
    assert!(
        spec["description"]
            .as_str()
            .is_some_and(|d| d.len() > short.len())
    );
    assert!(
        spec["homepage"]
            .as_str()
            .is_some_and(|h| h.starts_with("https://"))
    );

    let platforms = spec["platforms"].as_array().expect("platforms");
    assert_eq!(platforms.len(), PLATFORMS.len());
    for (os, arch) in PLATFORMS {
        let platform = platforms
            .iter()
            .find(|p| {
                p["selector"]["matchLabels"]["os"] == os
                    && p["selector"]["matchLabels"]["arch"] == arch
            })
            .unwrap_or_else(|| panic!("no platform for {os}/{arch}"));
        let archive_name = format!(
            "kubectl-ebpf-v{}-{os}-{arch}.tar.gz",
            env!("CARGO_PKG_VERSION")
        );
        let uri = platform["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with("https://") && uri.ends_with(&format!("/{archive_name}")),
            "{uri}"
        );
        let archive = dist.join(&archive_name);
        assert_eq!(platform["sha256"], sha256(&archive), "{os}/{arch}");
        assert_eq!(platform["bin"], "kubectl-ebpf");

        let held = archive_files(&archive);
        let files = platform["files"].as_array().expect("files");
        for file in files {
            let from = file["from"].as_str().expect("from");
            assert_eq!(file["to"], ".");
            assert!(
                held.iter().any(|name| matches(from, name)),
                "{from} is not in {archive_name}: {held:?}"
            );
        }
        // Both executables are shipped, and the licenses.
        for needed in [
            "kubectl-ebpf",
            "kubectl_complete-ebpf",
            "LICENSE-MIT",
            "LICENSE-APACHE",
        ] {
            assert!(held.iter().any(|name| name == needed), "{needed}: {held:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dist);
}

#[test]
fn rendering_without_the_archives_fails_and_says_which() {
    let output = Command::new(root().join("krew/render.sh"))
        .args(["0.0.0", "/nonexistent"])
        .output()
        .expect("run krew/render.sh");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("linux-amd64.tar.gz is missing"));
}
