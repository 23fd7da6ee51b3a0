#!/usr/bin/env bash
# Runs every benchmark, side by side with bpftrace where it does the same job, writes
# each one's report (docs/benchmarks-results.md for syscall-latency,
# docs/benchmarks-probes.md for the event probes and the tracer's own cost,
# docs/benchmarks-profile.md, docs/benchmarks-fanout.md, docs/benchmarks-script.md,
# docs/benchmarks-http.md) and
# then docs/benchmarks-summary.md: every headline figure in one table of ratios against
# the targets.
# As root. Installs bpftrace (Debian) and mounts tracefs when missing: bpftrace needs
# tracefs to find tracepoints; tracer-job's raw tracepoints do not.
# Options go to bench-syscall-latency; BENCH_PROBES_ROUNDS, BENCH_PROFILE_ROUNDS,
# BENCH_HTTP_ROUNDS and BENCH_FANOUT_ROUNDS set the rounds of the others.
set -euo pipefail
cd "$(dirname "$0")/.."

./setup.sh
if ! command -v bpftrace >/dev/null || ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bpftrace wrk
fi
if [ ! -d /sys/kernel/tracing/events ]; then
  mount -t tracefs nodev /sys/kernel/tracing
fi

cargo build --release --locked -p tracer-job -p kubectl-ebpf -p kube-double -p e2e --bins
bin="${CARGO_TARGET_DIR:-target}/release"
summary=$(mktemp -d)
trap 'rm -rf "$summary"' EXIT
"$bin/bench-syscall-latency" --out docs/benchmarks-results.md --summary "$summary/figures.jsonl" "$@"
"$bin/bench-probes" --rounds "${BENCH_PROBES_ROUNDS:-5}" --out docs/benchmarks-probes.md --summary "$summary/figures.jsonl"
"$bin/bench-profile" --rounds "${BENCH_PROFILE_ROUNDS:-9}" --work-ms 3000 --out docs/benchmarks-profile.md --summary "$summary/figures.jsonl"
"$bin/bench-script" --rounds 7 --summary "$summary/figures.jsonl" > docs/benchmarks-script.md
"$bin/bench-http" --rounds "${BENCH_HTTP_ROUNDS:-5}" --seconds 5 --out docs/benchmarks-http.md --summary "$summary/figures.jsonl"
"$bin/bench-fanout" --rounds "${BENCH_FANOUT_ROUNDS:-3}" --out docs/benchmarks-fanout.md --summary "$summary/figures.jsonl"
"$bin/bench-summary" --out docs/benchmarks-summary.md "$summary/figures.jsonl"
