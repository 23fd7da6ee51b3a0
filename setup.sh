#!/usr/bin/env bash
# Installs what a fresh machine needs to build and test kubectl-ebpf, and nothing else.
# Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")"

toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)
linker_version=0.10.4

if ! command -v rustup >/dev/null; then
  echo "setup: rustup is required (https://rustup.rs)" >&2
  exit 1
fi

# The pinned toolchain, with rust-src: the eBPF build compiles `core` for the BPF target.
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$toolchain" --profile minimal --component clippy,rustfmt
fi
if ! rustup component list --installed --toolchain "$toolchain" | grep -q '^rust-src'; then
  rustup component add rust-src --toolchain "$toolchain"
fi

# bpf-linker links the eBPF objects; 0.10.x loads the toolchain's own LLVM at run time.
if [ "$(bpf-linker --version 2>/dev/null | awk '{print $2}')" != "$linker_version" ]; then
  cargo +"$toolchain" install bpf-linker --version "=$linker_version" --locked
fi

# The network tests build namespaces with ip and filter with nft; the terminal test of the
# live view runs under tmux; the profile test of a stripped binary strips it with binutils;
# the http probe's TLS test runs curl against openssl's test server.
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v objcopy >/dev/null 2>&1 || missing+=(binutils)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "setup: install ${missing[*]} (the network, terminal, profile and http tests need them)" >&2
    exit 1
  fi
fi

# Probes read tracepoint layouts from tracefs; a fresh machine may not have it mounted.
if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
  if ! mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
    echo "setup: tracefs is not mounted and could not be (run as root: mount -t tracefs nodev /sys/kernel/tracing)" >&2
    exit 1
  fi
fi

# The cluster tests drive the real kubectl against the API double.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: kubectl is missing; the cluster tests need it (install kubectl 1.26 or newer)" >&2
  exit 1
fi

echo "setup: toolchain $toolchain with rust-src, bpf-linker $linker_version, $(kubectl version --client 2>/dev/null | head -1) ready"
