#!/usr/bin/env bash
# krew/render.sh VERSION DIST: prints the krew manifest of release VERSION (no leading
# "v"), with the sha256 of each archive `krew/package.sh` left in DIST.
set -euo pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: krew/render.sh VERSION DIST" >&2
    exit 2
fi
version=$1
dist=$2
manifest=$(grep -v '^#' "$(dirname "$0")/ebpf.yaml")
manifest=${manifest//"{{VERSION}}"/$version}
for platform in linux-amd64 linux-arm64 darwin-amd64 darwin-arm64; do
    archive="$dist/kubectl-ebpf-v$version-$platform.tar.gz"
    if [[ ! -f $archive ]]; then
        echo "krew/render.sh: $archive is missing; build it with krew/package.sh" >&2
        exit 1
    fi
    sum=$(sha256sum "$archive" | cut -d' ' -f1)
    manifest=${manifest//"{{SHA256 $platform}}"/$sum}
done
printf '%s\n' "$manifest"
