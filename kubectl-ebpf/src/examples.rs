//! The examples each command's `--help` ends with. A test parses every one, so they
//! stay valid as the flags change.

pub const TRACE: &str = "\
Examples:
  kubectl ebpf trace syscall-latency deploy/checkout -n shop -d 30s
  kubectl ebpf trace syscall-latency deploy/checkout --by syscall --per-pod --side-by-side
  kubectl ebpf trace exec -l app=checkout -A
  kubectl ebpf trace open deploy/checkout --failed --path-prefix /etc/
  kubectl ebpf trace tcp-connect pod/api-0 --port 5432 -o ndjson
  kubectl ebpf trace runq-latency node/worker-3 --heatmap -d 1m
  kubectl ebpf trace syscall-count deploy/checkout --interval 2s --top 10
  kubectl ebpf trace block-latency --local --cgroup system.slice/postgresql.service";

pub const PROFILE: &str = "\
Examples:
  kubectl ebpf profile deploy/checkout -n shop -d 30s -o svg --output-file checkout.svg
  kubectl ebpf profile deploy/checkout --off-cpu --min-block 5ms
  kubectl ebpf profile --local --pid 4242 -o folded";

pub const RUN: &str = "\
Examples:
  kubectl ebpf run exec-audit deploy/api -n shop --arg failed=true -d 10m
  kubectl ebpf run ./slow-queries.rhai -l app=db -d 1m
  kubectl ebpf run -e 'on(\"exec\", |e| count(\"execs\", #{program: e.filename}));' --all-nodes -d 30s
  kubectl ebpf run ./slow-queries.rhai --check";

pub const PROGRAMS: &str = "\
Examples:
  kubectl ebpf programs --all-nodes
  kubectl ebpf programs node/worker-3 -d 10s -o wide
  kubectl ebpf programs --local -o json";

pub const PROBES: &str = "\
Examples:
  kubectl ebpf probes
  kubectl ebpf probes syscall-latency";

pub const LIST: &str = "\
Examples:
  kubectl ebpf list
  kubectl ebpf list -o json --job-namespace tracing";

pub const DELETE: &str = "\
Examples:
  kubectl ebpf delete 5f3k9q
  kubectl ebpf delete --all";

pub const SCRIPTS: &str = "\
Examples:
  kubectl ebpf scripts -o wide
  kubectl ebpf scripts failed-opens";

pub const RBAC: &str = "\
Examples:
  kubectl ebpf rbac | kubectl apply -f -
  kubectl ebpf rbac --for-user alice --for-group sre -o json";

pub const VERSION: &str = "\
Examples:
  kubectl ebpf version
  kubectl ebpf version --client -o json
  kubectl ebpf version --local";

pub const COMPLETION: &str = "\
Examples:
  kubectl ebpf completion bash > /etc/bash_completion.d/kubectl-ebpf
  kubectl ebpf completion zsh > \"${fpath[1]}/_kubectl-ebpf\"";
