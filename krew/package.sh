#!/usr/bin/env bash
# krew/package.sh BIN_DIR VERSION PLATFORM DIST: packs the plugin built for PLATFORM
# (linux-amd64, linux-arm64, darwin-amd64, darwin-arm64) from BIN_DIR (e.g.
# target/x86_64-unknown-linux-gnu/release) into DIST/kubectl-ebpf-vVERSION-PLATFORM.tar.gz,
# with what the krew manifest's `files` name.
set -euo pipefail
if [[ $# -ne 4 ]]; then
    echo "usage: krew/package.sh BIN_DIR VERSION PLATFORM DIST" >&2
    exit 2
fi
bin_dir=$1
version=$2
platform=$3
dist=$4
root=$(cd "$(dirname "$0")/.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for binary in kubectl-ebpf kubectl_complete-ebpf; do
    install -m 0755 "$bin_dir/$binary" "$stage/$binary"
done
cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/"
mkdir -p "$dist"
tar -C "$stage" -czf "$dist/kubectl-ebpf-v$version-$platform.tar.gz" .
