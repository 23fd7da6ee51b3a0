//! The one line that says what a trace cost: the kernel time of its eBPF programs, the
//! tracers' own CPU time and memory, and the events lost. Nodes that did not measure are
//! said to be unknown, never counted as zero.

use crate::{
    merge::{Overhead, TraceResult},
    units::format_ns,
};

/// `overhead: eBPF 12.3ms CPU over 2 nodes (0.04% of 2×30.0s), tracer-job 45.0ms CPU,
/// 18 MiB peak RSS (max), 0 events lost`; `None` when no node got as far as a tracer.
pub fn line(result: &TraceResult) -> Option<String> {
    if result.nodes.is_empty() {
        return None;
    }
    let overhead = &result.overhead;
    if overhead.nodes == 0 {
        return Some(format!(
            "overhead: unknown (no tracer-job reported it; an older tracer-job does not), {}",
            lost(result.lost)
        ));
    }
    let mut parts = vec![ebpf(overhead)];
    let cpu = overhead
        .tracer_cpu_ns
        .map_or_else(|| "unknown".to_owned(), |ns| format_ns(ns as f64));
    let rss = overhead
        .tracer_max_rss_bytes
        .map_or_else(|| "unknown".to_owned(), mebibytes);
    parts.push(format!("tracer-job {cpu} CPU, {rss} peak RSS (max)"));
    parts.push(lost(result.lost));
    let mut line = format!("overhead: {}", parts.join(", "));
    if !overhead.unknown_nodes.is_empty() {
        line.push_str(&format!(
            "; unknown on {} (its tracer-job did not report it)",
            overhead.unknown_nodes.join(", ")
        ));
    }
    Some(line)
}

fn ebpf(overhead: &Overhead) -> String {
    let unknown = &overhead.ebpf_unknown_nodes;
    let Some(ns) = overhead.ebpf_cpu_ns else {
        return "eBPF CPU unknown (run time not counted: --no-stats, or the tracer lacks \
                CAP_SYS_ADMIN (--privileged) and sysctl kernel.bpf_stats_enabled is 0)"
            .to_owned();
    };
    let nodes = overhead.ebpf_nodes;
    let sampled = overhead.ebpf_counted_ms < overhead.ebpf_traced_ms;
    let mut text = format!(
        "eBPF {}{} CPU over {nodes} node{}",
        if sampled { "~" } else { "" },
        format_ns(ns as f64),
        if nodes == 1 { "" } else { "s" }
    );
    if let Some(share) = overhead.ebpf_cpu_share {
        let per_node_ns = overhead.ebpf_traced_ms as f64 * 1e6 / nodes.max(1) as f64;
        text.push_str(&format!(
            " ({} of {nodes}×{}",
            percent(share),
            format_ns(per_node_ns)
        ));
        if sampled {
            let counted = overhead.ebpf_counted_ms as f64 / overhead.ebpf_traced_ms as f64;
            text.push_str(&format!(
                ", counted over {:.0}% of it and scaled up",
                counted * 100.0
            ));
        }
        text.push(')');
    }
    if !unknown.is_empty() {
        text.push_str(&format!(
            " (unknown on {}: the kernel did not count run time)",
            unknown.join(", ")
        ));
    }
    text
}

fn percent(share: f64) -> String {
    let percent = share * 100.0;
    if percent > 0.0 && percent < 0.01 {
        "<0.01%".to_owned()
    } else {
        format!("{percent:.2}%")
    }
}

fn mebibytes(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 10.0 {
        format!("{mib:.0} MiB")
    } else {
        format!("{mib:.1} MiB")
    }
}

fn lost(count: u64) -> String {
    format!("{count} event{} lost", if count == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use tracer_protocol::Decoded;

    use super::*;
    use crate::merge::Merger;

    fn record(line: &str) -> Decoded {
        tracer_protocol::decode_line(line)
    }

    fn done(merger: &mut Merger, node: &str) {
        merger.apply(node, record(r#"{"type":"done","reason":"duration"}"#));
    }

    #[test]
    fn adds_up_nodes_and_says_what_is_unknown() {
        let mut merger = Merger::new();
        let stats = |ns: u64, rss_mib: u64| {
            record(&format!(
                r#"{{"type":"stats","programs":[{{"probe":"p","name":"enter","run_time_ns":{ns},"run_count":10}}],"run_time_counted":true,"cpu_ns":20000000,"max_rss_bytes":{},"lost":0,"elapsed_ms":30000}}"#,
                rss_mib * 1024 * 1024
            ))
        };
        merger.apply("a", stats(6_000_000, 12));
        merger.apply("b", stats(6_300_000, 18));
        // An older tracer: no stats record at all.
        merger.apply("c", record(r#"{"type":"lost","probe":"p","count":2}"#));
        for node in ["a", "b", "c"] {
            done(&mut merger, node);
        }
        let result = merger.result("p", 30_000);
        assert_eq!(result.overhead.ebpf_cpu_ns, Some(12_300_000));
        assert_eq!(result.overhead.ebpf_runs, Some(20));
        assert_eq!(result.overhead.tracer_cpu_ns, Some(40_000_000));
        assert_eq!(result.overhead.tracer_max_rss_bytes, Some(18 * 1024 * 1024));
        assert_eq!(result.overhead.unknown_nodes, ["c"]);
        assert_eq!(
            line(&result).expect("a line"),
            "overhead: eBPF 12.3ms CPU over 2 nodes (0.02% of 2×30s), tracer-job 40ms CPU, \
             18 MiB peak RSS (max), 2 events lost; unknown on c (its tracer-job did not report it)"
        );
    }

    #[test]
    fn a_sampled_count_says_it_was_scaled_up() {
        let mut merger = Merger::new();
        merger.apply(
            "a",
            record(
                r#"{"type":"stats","programs":[{"probe":"p","name":"enter","run_time_ns":9000000,"run_count":90}],"run_time_counted":true,"cpu_ns":1000000,"max_rss_bytes":4194304,"lost":0,"elapsed_ms":30000,"run_time_counted_ms":3000}"#,
            ),
        );
        done(&mut merger, "a");
        let result = merger.result("p", 30_000);
        assert_eq!(result.overhead.ebpf_cpu_ns, Some(9_000_000));
        assert_eq!(result.overhead.ebpf_traced_ms, 30_000);
        assert_eq!(result.overhead.ebpf_counted_ms, 3_000);
        assert_eq!(
            line(&result).expect("a line"),
            "overhead: eBPF ~9ms CPU over 1 node (0.03% of 1×30s, counted over 10% of it and \
             scaled up), tracer-job 1ms CPU, 4.0 MiB peak RSS (max), 0 events lost"
        );
    }

    #[test]
    fn run_time_not_counted_is_unknown_not_zero() {
        let mut merger = Merger::new();
        merger.apply(
            "a",
            record(
                r#"{"type":"stats","programs":[{"name":"enter","run_time_ns":0,"run_count":0}],"run_time_counted":false,"cpu_ns":1000000,"max_rss_bytes":4194304,"lost":0,"elapsed_ms":1000}"#,
            ),
        );
        done(&mut merger, "a");
        let result = merger.result("p", 1000);
        assert_eq!(result.overhead.ebpf_cpu_ns, None);
        assert_eq!(result.overhead.ebpf_unknown_nodes, ["a"]);
        let text = line(&result).expect("a line");
        assert!(text.starts_with("overhead: eBPF CPU unknown"), "{text}");
        assert!(
            text.contains("tracer-job 1ms CPU, 4.0 MiB peak RSS"),
            "{text}"
        );
    }

    #[test]
    fn no_measurement_at_all_is_unknown() {
        let mut merger = Merger::new();
        done(&mut merger, "a");
        let result = merger.result("p", 1000);
        let text = line(&result).expect("a line");
        assert!(text.starts_with("overhead: unknown"), "{text}");
    }
}
