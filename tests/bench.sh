#!/usr/bin/env bash
# Runs the benchmarks side by side with bpftrace and writes docs/benchmarks-results.md
# (syscall-latency), docs/benchmarks-probes.md (the event probes) and
# docs/benchmarks-profile.md (the profiler).
# As root. Installs bpftrace (Debian) and mounts tracefs when missing: bpftrace needs
# tracefs to find tracepoints; tracer-job's raw tracepoints do not.
# Options go to bench-syscall-latency; BENCH_PROBES_ROUNDS and BENCH_PROFILE_ROUNDS set
# the rounds of the others.
set -euo pipefail
cd "$(dirname "$0")/.."

./setup.sh
if ! command -v bpftrace >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace
fi
if [ ! -d /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing
fi

cargo build --release --locked -p tracer-job -p kubectl-ebpf -p e2e --bins
bin="${CARGO_TARGET_DIR:-target}/release"
"$bin/bench-syscall-latency" --out docs/benchmarks-results.md "$@"
"$bin/bench-probes" --rounds "${BENCH_PROBES_ROUNDS:-5}" --out docs/benchmarks-probes.md
"$bin/bench-profile" --rounds "${BENCH_PROFILE_ROUNDS:-5}" --work-ms 3000 --out docs/benchmarks-profile.md
