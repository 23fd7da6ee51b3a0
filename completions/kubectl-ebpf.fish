# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kubectl_ebpf_global_optspecs
    string join \n kubeconfig= context= cluster= user= n/namespace= job-namespace= api-qps= api-burst= no-headers h/help V/version
end

function __fish_kubectl_ebpf_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kubectl_ebpf_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kubectl_ebpf_using_subcommand
    set -l cmd (__fish_kubectl_ebpf_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -s h -l help -d 'Print help'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -s V -l version -d 'Print version'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "trace" -d 'Run a built-in probe on targets and print the merged result'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "profile" -d 'Sample the targets\' on-CPU stacks and print the merged profile: the top functions, folded stacks or a flame graph'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "run" -d 'Run a rhai script on the targets\' events on every node and print its merged maps (docs/scripting.md)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "probes" -d 'List the built-in probes, or describe one'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "programs" -d 'List the eBPF programs loaded on nodes, anyone\'s: type, name, where attached, which process and pod hold them, what they ran, their memory'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "list" -d 'List the traces running on the cluster (yours and others\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "delete" -d 'Delete a trace\'s Jobs and their pods'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "scripts" -d 'List the scripts shipped with the plugin (for `run`), or show one\'s arguments'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "rbac" -d 'Print the namespace, roles and bindings a user needs to trace (apply them with `kubectl apply -f -`)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "version" -d 'Print the plugin\'s version and the versions of the tracers running on the cluster (or, with --local, of this machine\'s tracer-job)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -s l -l selector -d 'Trace the pods matching this label selector (e.g. app=checkout)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -s c -l container -d 'Trace only this container of each pod' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l image -d 'The tracer image (default: the one released with this plugin)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l start-timeout -d 'Give up on a node whose tracer has not started after this long' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l pid -d 'With --local: trace this process (all its threads). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l cgroup -d 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l tracer -d 'The tracer-job binary to run with --local (default: beside this executable)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -s d -l duration -d 'How long to trace (e.g. 30s, 2m); until Ctrl-C when absent' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l by -d 'Split the result: `syscall` keeps one histogram per syscall' -r -f -a "syscall\t''"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l top -d 'Show the N largest rows of each table of counts (default 20; 0 shows all)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l min-latency -d 'Ignore calls faster than this (e.g. 10us), filtered in the kernel (syscall-latency, open; tcp-connect: the handshake; http: request to response, on the node)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l path-prefix -d 'Only paths that start with PREFIX as the program passed them, filtered in the kernel (open, exec; at most 64 bytes); http: request paths, on the node' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l port -d 'Only this port, filtered in the kernel: the remote one (tcp-connect), either end (tcp-life, tcp-reset, tcp-retransmit, packet-drop)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l signal -d 'Only this signal (SIGKILL, KILL or 9), filtered in the kernel: the one sent (signal), the one that ended the process (exit)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l status -d 'Only responses with this status (404) or class (5xx) (http)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l capture-bytes -d 'Bytes of each socket read and write to capture and parse on the node (http; 1 to 4096, default 256). Payloads never leave the node' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l capture-header -d 'Also show this header\'s value (http; repeat for more). Headers are otherwise never shipped off the node' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -s o -l output -d 'Output format' -r -f -a "table\t'Histograms and a summary table'
wide\t'The table with more: events add TID and CGROUP and show every field whole; `probes` adds each probe\'s fields and hooks'
json\t'One JSON document (docs/json-output.md)'
yaml\t'The same document as YAML'
ndjson\t'One JSON object per line: events as they arrive, then the rest'
svg\t'The heatmaps as one SVG document (with --heatmap)'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l sort -d 'Order tables of counts by this key column (e.g. syscall, pod) instead of largest count first; --top then keeps the first rows in that order' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l interval -d 'How often each node sends its snapshot, and so one heatmap column (default 1s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -s A -l all-namespaces -d 'With -l: look in every namespace'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l all-nodes -d 'Trace every node as a whole, with no container filter'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l privileged -d 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l no-stats -d 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l exact-stats -d 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l dry-run -d 'Print the objects the trace would create (with -o yaml or json) and create nothing'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l local -d 'Trace this machine instead of a cluster, by running tracer-job here'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l per-node -d 'Keep each node\'s histograms apart instead of summing them'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l per-pod -d 'One histogram per pod container, split by cgroup in the kernel and added up across nodes (syscall-latency, runq-latency, block-latency)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l side-by-side -d 'With --per-pod or --per-node: draw the split histograms next to each other, on shared rows and one scale, as many as the terminal\'s width fits'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l failed -d 'Only what failed, filtered in the kernel: calls (open, exec), connects (tcp-connect), processes that exited non-zero or by a signal (exit)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l keep-query -d 'Keep the query string of request paths (http; left out by default, as it can hold secrets)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l heatmap -d 'Also draw each histogram over time: one column per --interval, log2 buckets up, shaded by count (histogram probes; `-o svg` writes it as SVG)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand trace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s l -l selector -d 'Trace the pods matching this label selector (e.g. app=checkout)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s c -l container -d 'Trace only this container of each pod' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l image -d 'The tracer image (default: the one released with this plugin)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l start-timeout -d 'Give up on a node whose tracer has not started after this long' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l pid -d 'With --local: trace this process (all its threads). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l cgroup -d 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l tracer -d 'The tracer-job binary to run with --local (default: beside this executable)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s d -l duration -d 'How long to sample (e.g. 30s, 2m)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s F -l frequency -d 'Samples per second on each CPU' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l stacks -d 'Which stacks to take (`--user` is kubectl\'s user flag, hence not `--user`)' -r -f -a "user\t'The process\'s own code and libraries'
kernel\t'The kernel code it runs (syscalls, faults, interrupts)'
both\t'Both, the kernel frames on top of the user frames that entered the kernel'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l min-block -d 'With --off-cpu: leave out blocks shorter than this (e.g. 100us, 10ms)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s o -l output -d 'Output format' -r -f -a "table\t'The top functions by self and total samples'
folded\t'One `frame;frame;frame count` line per stack, as flame graph tools read'
svg\t'An interactive flame graph'
json\t'One JSON document: stacks, functions, nodes'
yaml\t'The same document as YAML'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l output-file -d 'Write the result to this file instead of standard output' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s A -l all-namespaces -d 'With -l: look in every namespace'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l all-nodes -d 'Trace every node as a whole, with no container filter'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l privileged -d 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l no-stats -d 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l exact-stats -d 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l dry-run -d 'Print the objects the trace would create (with -o yaml or json) and create nothing'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l local -d 'Trace this machine instead of a cluster, by running tracer-job here'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l off-cpu -d 'Profile the time spent blocked off the CPU (sleeping, waiting for I/O, locks or other threads) by the stack that blocked, instead of sampling time on it'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand profile" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s e -l expr -d 'The script\'s text itself instead of a file (then every positional argument is a target)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l arg -d 'A value the script reads with arg("NAME"). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s l -l selector -d 'Trace the pods matching this label selector (e.g. app=checkout)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s c -l container -d 'Trace only this container of each pod' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l image -d 'The tracer image (default: the one released with this plugin)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l start-timeout -d 'Give up on a node whose tracer has not started after this long' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l pid -d 'With --local: trace this process (all its threads). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l cgroup -d 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l tracer -d 'The tracer-job binary to run with --local (default: beside this executable)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s d -l duration -d 'How long to run (e.g. 30s, 2m); until Ctrl-C when absent' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l top -d 'Show the N largest rows of each table of counts (default 20; 0 shows all)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s o -l output -d 'Output format' -r -f -a "table\t'Histograms and a summary table'
wide\t'The table with more: events add TID and CGROUP and show every field whole; `probes` adds each probe\'s fields and hooks'
json\t'One JSON document (docs/json-output.md)'
yaml\t'The same document as YAML'
ndjson\t'One JSON object per line: events as they arrive, then the rest'
svg\t'The heatmaps as one SVG document (with --heatmap)'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l check -d 'Only compile and check the script, here; create nothing and trace nothing'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s A -l all-namespaces -d 'With -l: look in every namespace'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l all-nodes -d 'Trace every node as a whole, with no container filter'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l privileged -d 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l no-stats -d 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l exact-stats -d 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l dry-run -d 'Print the objects the trace would create (with -o yaml or json) and create nothing'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l local -d 'Trace this machine instead of a cluster, by running tracer-job here'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -s o -l output -d 'Output format' -r -f -a "table\t'Histograms and a summary table'
wide\t'The table with more: events add TID and CGROUP and show every field whole; `probes` adds each probe\'s fields and hooks'
json\t'One JSON document (docs/json-output.md)'
yaml\t'The same document as YAML'
ndjson\t'One JSON object per line: events as they arrive, then the rest'
svg\t'The heatmaps as one SVG document (with --heatmap)'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand probes" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -s l -l selector -d 'Trace the pods matching this label selector (e.g. app=checkout)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -s c -l container -d 'Trace only this container of each pod' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l image -d 'The tracer image (default: the one released with this plugin)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l start-timeout -d 'Give up on a node whose tracer has not started after this long' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l pid -d 'With --local: trace this process (all its threads). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l cgroup -d 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l tracer -d 'The tracer-job binary to run with --local (default: beside this executable)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -s d -l duration -d 'How long to count each program\'s runs and run time (e.g. 1s, 10s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -s o -l output -d 'Output format' -r -f -a "table\t'A table'
wide\t'The table with more columns'
json\t'One JSON document'
yaml\t'The same document as YAML'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -s A -l all-namespaces -d 'With -l: look in every namespace'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l all-nodes -d 'Trace every node as a whole, with no container filter'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l privileged -d 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l no-stats -d 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l exact-stats -d 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l dry-run -d 'Print the objects the trace would create (with -o yaml or json) and create nothing'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l local -d 'Trace this machine instead of a cluster, by running tracer-job here'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand programs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -s o -l output -d 'Output format (`wide` adds when each trace was created)' -r -f -a "table\t'A table'
wide\t'The table with more columns'
json\t'One JSON document'
yaml\t'The same document as YAML'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l all -d 'Delete every trace in the jobs namespace'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand delete" -s h -l help -d 'Print help'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -s o -l output -d 'Output format (`wide` adds each script\'s arguments)' -r -f -a "table\t'A table'
wide\t'The table with more columns'
json\t'One JSON document'
yaml\t'The same document as YAML'"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand scripts" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l for-user -d 'Bind a user (repeatable)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l for-group -d 'Bind a group (repeatable; default: the group kubectl-ebpf-users when nobody is named)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l for-service-account -d 'Bind a service account (repeatable)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -s o -l output -d 'Output format' -r -f -a "yaml\t''
json\t''"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand rbac" -s h -l help -d 'Print help'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -s o -l output -d 'Output format' -r -f -a "text\t''
json\t''
yaml\t''"
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l client -d 'The plugin\'s version only; do not ask the cluster'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l local -d 'The tracer-job this machine would run with --local, instead of the cluster\'s'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand version" -s h -l help -d 'Print help'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l kubeconfig -d 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)' -r -F
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l context -d 'The kubeconfig context to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l cluster -d 'The kubeconfig cluster to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l user -d 'The kubeconfig user to use' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -s n -l namespace -d 'Namespace of the targets (default: the context\'s)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l job-namespace -d 'Namespace the tracer Jobs run in' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l api-qps -d 'Most API requests a second, sustained (a watch or a followed log counts once)' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l api-burst -d 'API requests sent at once before --api-qps applies' -r
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -l no-headers -d 'Print tables without their line of column names'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand completion" -s h -l help -d 'Print help'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "trace" -d 'Run a built-in probe on targets and print the merged result'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "profile" -d 'Sample the targets\' on-CPU stacks and print the merged profile: the top functions, folded stacks or a flame graph'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "run" -d 'Run a rhai script on the targets\' events on every node and print its merged maps (docs/scripting.md)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "probes" -d 'List the built-in probes, or describe one'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "programs" -d 'List the eBPF programs loaded on nodes, anyone\'s: type, name, where attached, which process and pod hold them, what they ran, their memory'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "list" -d 'List the traces running on the cluster (yours and others\')'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "delete" -d 'Delete a trace\'s Jobs and their pods'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "scripts" -d 'List the scripts shipped with the plugin (for `run`), or show one\'s arguments'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "rbac" -d 'Print the namespace, roles and bindings a user needs to trace (apply them with `kubectl apply -f -`)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "version" -d 'Print the plugin\'s version and the versions of the tracers running on the cluster (or, with --local, of this machine\'s tracer-job)'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-ebpf -n "__fish_kubectl_ebpf_using_subcommand help; and not __fish_seen_subcommand_from trace profile run probes programs list delete scripts rbac version completion help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
