
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
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Run a built-in probe on targets and print the merged result')
            [CompletionResult]::new('probes', 'probes', [CompletionResultType]::ParameterValue, 'List the built-in probes')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-ebpf;trace' {
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'With --local: trace this process (all its threads). Repeatable')
            [CompletionResult]::new('--cgroup', '--cgroup', [CompletionResultType]::ParameterName, 'With --local: trace this cgroup v2 directory (absolute, or relative to the cgroup2 mount). Repeatable')
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How long to trace (e.g. 30s, 2m); until Ctrl-C when absent')
            [CompletionResult]::new('--duration', '--duration', [CompletionResultType]::ParameterName, 'How long to trace (e.g. 30s, 2m); until Ctrl-C when absent')
            [CompletionResult]::new('--by', '--by', [CompletionResultType]::ParameterName, 'Split the result: `syscall` keeps one histogram per syscall')
            [CompletionResult]::new('--min-latency', '--min-latency', [CompletionResultType]::ParameterName, 'Ignore calls faster than this (e.g. 10us), filtered in the kernel')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--tracer', '--tracer', [CompletionResultType]::ParameterName, 'The tracer-job binary to run with --local (default: beside this executable)')
            [CompletionResult]::new('--local', '--local', [CompletionResultType]::ParameterName, 'Trace this machine instead of a cluster, by running tracer-job here')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'kubectl-ebpf;probes' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-ebpf;completion' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'kubectl-ebpf;help' {
            [CompletionResult]::new('trace', 'trace', [CompletionResultType]::ParameterValue, 'Run a built-in probe on targets and print the merged result')
            [CompletionResult]::new('probes', 'probes', [CompletionResultType]::ParameterValue, 'List the built-in probes')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-ebpf;help;trace' {
            break
        }
        'kubectl-ebpf;help;probes' {
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
