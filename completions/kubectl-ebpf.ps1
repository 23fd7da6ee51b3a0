
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'kubectl-ebpf' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'kubectl-ebpf'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'kubectl-ebpf' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Run a built-in probe on targets and print the merged result')
            [CompletionResult]::new('profile', 'profile', [CompletionResultType]::ParameterValue, 'Sample the targets'' on-CPU stacks and print the merged profile: the top functions, folded stacks or a flame graph')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a rhai script on the targets'' events on every node and print its merged maps (docs/scripting.md)')
            [CompletionResult]::new('probes', 'probes', [CompletionResultType]::ParameterValue, 'List the built-in probes, or describe one')
            [CompletionResult]::new('programs', 'programs', [CompletionResultType]::ParameterValue, 'List the eBPF programs loaded on nodes, anyone''s: type, name, where attached, which process and pod hold them, what they ran, their memory')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the traces running on the cluster (yours and others'')')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete a trace''s Jobs and their pods')
            [CompletionResult]::new('scripts', 'scripts', [CompletionResultType]::ParameterValue, 'List the scripts shipped with the plugin (for `run`), or show one''s arguments')
            [CompletionResult]::new('rbac', 'rbac', [CompletionResultType]::ParameterValue, 'Print the namespace, roles and bindings a user needs to trace (apply them with `kubectl apply -f -`)')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the plugin''s version and the versions of the tracers running on the cluster (or, with --local, of this machine''s tracer-job)')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-ebpf;trace' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'The tracer image (default: the one released with this plugin)')
            [CompletionResult]::new('--start-timeout', '--start-timeout', [CompletionResultType]::ParameterName, 'Give up on a node whose tracer has not started after this long')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'With --local: trace this process (all its threads). Repeatable')
            [CompletionResult]::new('--cgroup', '--cgroup', [CompletionResultType]::ParameterName, 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable')
            [CompletionResult]::new('--tracer', '--tracer', [CompletionResultType]::ParameterName, 'The tracer-job binary to run with --local (default: beside this executable)')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How long to trace (e.g. 30s, 2m); until Ctrl-C when absent')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to trace (e.g. 30s, 2m); until Ctrl-C when absent')
            [CompletionResult]::new('--by', '--by', [CompletionResultType]::ParameterName, 'Split the result: `syscall` keeps one histogram per syscall')
            [CompletionResult]::new('--top', '--top', [CompletionResultType]::ParameterName, 'Show the N largest rows of each table of counts (default 20; 0 shows all)')
            [CompletionResult]::new('--min-latency', '--min-latency', [CompletionResultType]::ParameterName, 'Ignore calls faster than this (e.g. 10us), filtered in the kernel (syscall-latency, open; tcp-connect: the handshake; http: request to response, on the node)')
            [CompletionResult]::new('--path-prefix', '--path-prefix', [CompletionResultType]::ParameterName, 'Only paths that start with PREFIX as the program passed them, filtered in the kernel (open, exec; at most 64 bytes); http: request paths, on the node')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Only this port, filtered in the kernel: the remote one (tcp-connect), either end (tcp-life, tcp-reset, tcp-retransmit, packet-drop)')
            [CompletionResult]::new('--signal', '--signal', [CompletionResultType]::ParameterName, 'Only this signal (SIGKILL, KILL or 9), filtered in the kernel: the one sent (signal), the one that ended the process (exit)')
            [CompletionResult]::new('--status', '--status', [CompletionResultType]::ParameterName, 'Only responses with this status (404) or class (5xx) (http)')
            [CompletionResult]::new('--capture-bytes', '--capture-bytes', [CompletionResultType]::ParameterName, 'Bytes of each socket read and write to capture and parse on the node (http; 1 to 4096, default 256). Payloads never leave the node')
            [CompletionResult]::new('--capture-header', '--capture-header', [CompletionResultType]::ParameterName, 'Also show this header''s value (http; repeat for more). Headers are otherwise never shipped off the node')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--sort', '--sort', [CompletionResultType]::ParameterName, 'Order tables of counts by this key column (e.g. syscall, pod) instead of largest count first; --top then keeps the first rows in that order')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'How often each node sends its snapshot, and so one heatmap column (default 1s)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-nodes', '--all-nodes', [CompletionResultType]::ParameterName, 'Trace every node as a whole, with no container filter')
            [CompletionResult]::new('--privileged', '--privileged', [CompletionResultType]::ParameterName, 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only')
            [CompletionResult]::new('--no-stats', '--no-stats', [CompletionResultType]::ParameterName, 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up')
            [CompletionResult]::new('--exact-stats', '--exact-stats', [CompletionResultType]::ParameterName, 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the objects the trace would create (with -o yaml or json) and create nothing')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Trace this machine instead of a cluster, by running tracer-job here')
            [CompletionResult]::new('--per-node', '--per-node', [CompletionResultType]::ParameterName, 'Keep each node''s histograms apart instead of summing them')
            [CompletionResult]::new('--per-pod', '--per-pod', [CompletionResultType]::ParameterName, 'One histogram per pod container, split by cgroup in the kernel and added up across nodes (syscall-latency, runq-latency, block-latency)')
            [CompletionResult]::new('--side-by-side', '--side-by-side', [CompletionResultType]::ParameterName, 'With --per-pod or --per-node: draw the split histograms next to each other, on shared rows and one scale, as many as the terminal''s width fits')
            [CompletionResult]::new('--failed', '--failed', [CompletionResultType]::ParameterName, 'Only what failed, filtered in the kernel: calls (open, exec), connects (tcp-connect), processes that exited non-zero or by a signal (exit)')
            [CompletionResult]::new('--keep-query', '--keep-query', [CompletionResultType]::ParameterName, 'Keep the query string of request paths (http; left out by default, as it can hold secrets)')
            [CompletionResult]::new('--heatmap', '--heatmap', [CompletionResultType]::ParameterName, 'Also draw each histogram over time: one column per --interval, log2 buckets up, shaded by count (histogram probes; `-o svg` writes it as SVG)')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;profile' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'The tracer image (default: the one released with this plugin)')
            [CompletionResult]::new('--start-timeout', '--start-timeout', [CompletionResultType]::ParameterName, 'Give up on a node whose tracer has not started after this long')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'With --local: trace this process (all its threads). Repeatable')
            [CompletionResult]::new('--cgroup', '--cgroup', [CompletionResultType]::ParameterName, 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable')
            [CompletionResult]::new('--tracer', '--tracer', [CompletionResultType]::ParameterName, 'The tracer-job binary to run with --local (default: beside this executable)')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How long to sample (e.g. 30s, 2m)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to sample (e.g. 30s, 2m)')
            [CompletionResult]::new('-F', '-F ', [CompletionResultType]::ParameterName, 'Samples per second on each CPU')
            [CompletionResult]::new('--frequency', '--frequency', [CompletionResultType]::ParameterName, 'Samples per second on each CPU')
            [CompletionResult]::new('--stacks', '--stacks', [CompletionResultType]::ParameterName, 'Which stacks to take (`--user` is kubectl''s user flag, hence not `--user`)')
            [CompletionResult]::new('--min-block', '--min-block', [CompletionResultType]::ParameterName, 'With --off-cpu: leave out blocks shorter than this (e.g. 100us, 10ms)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output-file', '--output-file', [CompletionResultType]::ParameterName, 'Write the result to this file instead of standard output')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-nodes', '--all-nodes', [CompletionResultType]::ParameterName, 'Trace every node as a whole, with no container filter')
            [CompletionResult]::new('--privileged', '--privileged', [CompletionResultType]::ParameterName, 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only')
            [CompletionResult]::new('--no-stats', '--no-stats', [CompletionResultType]::ParameterName, 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up')
            [CompletionResult]::new('--exact-stats', '--exact-stats', [CompletionResultType]::ParameterName, 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the objects the trace would create (with -o yaml or json) and create nothing')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Trace this machine instead of a cluster, by running tracer-job here')
            [CompletionResult]::new('--off-cpu', '--off-cpu', [CompletionResultType]::ParameterName, 'Profile the time spent blocked off the CPU (sleeping, waiting for I/O, locks or other threads) by the stack that blocked, instead of sampling time on it')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;run' {
            [CompletionResult]::new('-e', '-e', [CompletionResultType]::ParameterName, 'The script''s text itself instead of a file (then every positional argument is a target)')
            [CompletionResult]::new('--expr', '--expr', [CompletionResultType]::ParameterName, 'The script''s text itself instead of a file (then every positional argument is a target)')
            [CompletionResult]::new('--arg', '--arg', [CompletionResultType]::ParameterName, 'A value the script reads with arg("NAME"). Repeatable')
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'The tracer image (default: the one released with this plugin)')
            [CompletionResult]::new('--start-timeout', '--start-timeout', [CompletionResultType]::ParameterName, 'Give up on a node whose tracer has not started after this long')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'With --local: trace this process (all its threads). Repeatable')
            [CompletionResult]::new('--cgroup', '--cgroup', [CompletionResultType]::ParameterName, 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable')
            [CompletionResult]::new('--tracer', '--tracer', [CompletionResultType]::ParameterName, 'The tracer-job binary to run with --local (default: beside this executable)')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How long to run (e.g. 30s, 2m); until Ctrl-C when absent')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to run (e.g. 30s, 2m); until Ctrl-C when absent')
            [CompletionResult]::new('--top', '--top', [CompletionResultType]::ParameterName, 'Show the N largest rows of each table of counts (default 20; 0 shows all)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Only compile and check the script, here; create nothing and trace nothing')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-nodes', '--all-nodes', [CompletionResultType]::ParameterName, 'Trace every node as a whole, with no container filter')
            [CompletionResult]::new('--privileged', '--privileged', [CompletionResultType]::ParameterName, 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only')
            [CompletionResult]::new('--no-stats', '--no-stats', [CompletionResultType]::ParameterName, 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up')
            [CompletionResult]::new('--exact-stats', '--exact-stats', [CompletionResultType]::ParameterName, 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the objects the trace would create (with -o yaml or json) and create nothing')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Trace this machine instead of a cluster, by running tracer-job here')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;probes' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;programs' {
            [CompletionResult]::new('-l', '-l', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('--selector', '--selector', [CompletionResultType]::ParameterName, 'Trace the pods matching this label selector (e.g. app=checkout)')
            [CompletionResult]::new('-c', '-c', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--container', '--container', [CompletionResultType]::ParameterName, 'Trace only this container of each pod')
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'The tracer image (default: the one released with this plugin)')
            [CompletionResult]::new('--start-timeout', '--start-timeout', [CompletionResultType]::ParameterName, 'Give up on a node whose tracer has not started after this long')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'With --local: trace this process (all its threads). Repeatable')
            [CompletionResult]::new('--cgroup', '--cgroup', [CompletionResultType]::ParameterName, 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable')
            [CompletionResult]::new('--tracer', '--tracer', [CompletionResultType]::ParameterName, 'The tracer-job binary to run with --local (default: beside this executable)')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How long to count each program''s runs and run time (e.g. 1s, 10s)')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to count each program''s runs and run time (e.g. 1s, 10s)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'With -l: look in every namespace')
            [CompletionResult]::new('--all-nodes', '--all-nodes', [CompletionResultType]::ParameterName, 'Trace every node as a whole, with no container filter')
            [CompletionResult]::new('--privileged', '--privileged', [CompletionResultType]::ParameterName, 'Run the tracer privileged instead of with BPF, PERFMON and SYS_RESOURCE only')
            [CompletionResult]::new('--no-stats', '--no-stats', [CompletionResultType]::ParameterName, 'Do not have the kernel count eBPF run time during the trace; the overhead line then says unknown. By default it counts a tenth of the time and scales up')
            [CompletionResult]::new('--exact-stats', '--exact-stats', [CompletionResultType]::ParameterName, 'Have the kernel count eBPF run time for the whole trace, not a tenth of it (while on, every eBPF program run on the node reads the clock twice more)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the objects the trace would create (with -o yaml or json) and create nothing')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Trace this machine instead of a cluster, by running tracer-job here')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;list' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format (`wide` adds when each trace was created)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format (`wide` adds when each trace was created)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;delete' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Delete every trace in the jobs namespace')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-ebpf;scripts' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format (`wide` adds each script''s arguments)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format (`wide` adds each script''s arguments)')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;rbac' {
            [CompletionResult]::new('--for-user', '--for-user', [CompletionResultType]::ParameterName, 'Bind a user (repeatable)')
            [CompletionResult]::new('--for-group', '--for-group', [CompletionResultType]::ParameterName, 'Bind a group (repeatable; default: the group kubectl-ebpf-users when nobody is named)')
            [CompletionResult]::new('--for-service-account', '--for-service-account', [CompletionResultType]::ParameterName, 'Bind a service account (repeatable)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-ebpf;version' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--client', '--client', [CompletionResultType]::ParameterName, 'The plugin''s version only; do not ask the cluster')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'The tracer-job this machine would run with --local, instead of the cluster''s')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-ebpf;completion' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: KUBECONFIG, else ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use')
            [CompletionResult]::new('--cluster', '--cluster', [CompletionResultType]::ParameterName, 'The kubeconfig cluster to use')
            [CompletionResult]::new('--user', '--user', [CompletionResultType]::ParameterName, 'The kubeconfig user to use')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'Namespace of the targets (default: the context''s)')
            [CompletionResult]::new('--job-namespace', '--job-namespace', [CompletionResultType]::ParameterName, 'Namespace the tracer Jobs run in')
            [CompletionResult]::new('--api-qps', '--api-qps', [CompletionResultType]::ParameterName, 'Most API requests a second, sustained (a watch or a followed log counts once)')
            [CompletionResult]::new('--api-burst', '--api-burst', [CompletionResultType]::ParameterName, 'API requests sent at once before --api-qps applies')
            [CompletionResult]::new('--no-headers', '--no-headers', [CompletionResultType]::ParameterName, 'Print tables without their line of column names')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-ebpf;help' {
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Run a built-in probe on targets and print the merged result')
            [CompletionResult]::new('profile', 'profile', [CompletionResultType]::ParameterValue, 'Sample the targets'' on-CPU stacks and print the merged profile: the top functions, folded stacks or a flame graph')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run a rhai script on the targets'' events on every node and print its merged maps (docs/scripting.md)')
            [CompletionResult]::new('probes', 'probes', [CompletionResultType]::ParameterValue, 'List the built-in probes, or describe one')
            [CompletionResult]::new('programs', 'programs', [CompletionResultType]::ParameterValue, 'List the eBPF programs loaded on nodes, anyone''s: type, name, where attached, which process and pod hold them, what they ran, their memory')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the traces running on the cluster (yours and others'')')
            [CompletionResult]::new('delete', 'delete', [CompletionResultType]::ParameterValue, 'Delete a trace''s Jobs and their pods')
            [CompletionResult]::new('scripts', 'scripts', [CompletionResultType]::ParameterValue, 'List the scripts shipped with the plugin (for `run`), or show one''s arguments')
            [CompletionResult]::new('rbac', 'rbac', [CompletionResultType]::ParameterValue, 'Print the namespace, roles and bindings a user needs to trace (apply them with `kubectl apply -f -`)')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the plugin''s version and the versions of the tracers running on the cluster (or, with --local, of this machine''s tracer-job)')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-ebpf;help;trace' {
            break
        }
        'kubectl-ebpf;help;profile' {
            break
        }
        'kubectl-ebpf;help;run' {
            break
        }
        'kubectl-ebpf;help;probes' {
            break
        }
        'kubectl-ebpf;help;programs' {
            break
        }
        'kubectl-ebpf;help;list' {
            break
        }
        'kubectl-ebpf;help;delete' {
            break
        }
        'kubectl-ebpf;help;scripts' {
            break
        }
        'kubectl-ebpf;help;rbac' {
            break
        }
        'kubectl-ebpf;help;version' {
            break
        }
        'kubectl-ebpf;help;completion' {
            break
        }
        'kubectl-ebpf;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
