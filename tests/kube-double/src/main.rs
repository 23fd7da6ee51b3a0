//! `kube-double`: a Kubernetes API server double with simulated nodes.

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::Parser;
use kube_double::{
    cluster::{CgroupDriver, Cluster, Options, Runtime},
    faults, kubeconfig, server,
};

/// A Kubernetes API server double: serves the REST API on 127.0.0.1 over plain HTTP and
/// runs each pod's containers as local processes in kubelet-style cgroups.
#[derive(Parser, Debug)]
#[command(name = "kube-double", version)]
struct Args {
    /// How many simulated nodes (node-1..node-N).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Where to write a kubeconfig that reaches this server.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The kubelet cgroup driver whose layout the pod cgroups follow.
    #[arg(long, value_enum, default_value_t = CgroupDriver::Systemd)]
    cgroup_driver: CgroupDriver,
    /// The container runtime the nodes pretend to run.
    #[arg(long, value_enum, default_value_t = Runtime::Containerd)]
    runtime: Runtime,
    /// The binary run for containers of the tracer image (default: tracer-job next to
    /// this executable).
    #[arg(long)]
    tracer_job: Option<PathBuf>,
    /// Serve this file (with {{node}} replaced) as the log of every tracer container
    /// instead of running the tracer.
    #[arg(long)]
    replay_tracer_log: Option<PathBuf>,
    /// A fault to inject from the start, as JSON (repeatable); see the README.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// How many changes a watch can resume from before it gets 410 Expired.
    #[arg(long, default_value_t = 100_000)]
    watch_history: usize,
    /// Jobs' deadlines and TTLs run out this many times faster than the wall clock.
    #[arg(long, default_value_t = 1.0)]
    job_clock_speed: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kube-double: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let faults = args
        .faults
        .iter()
        .map(|f| faults::parse(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let replay = match &args.replay_tracer_log {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))?
                .lines()
                .map(str::to_string)
                .collect(),
        ),
        None => None,
    };
    let tracer_job = match args.tracer_job {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .map(|d| d.join("tracer-job"))
            .unwrap_or_else(|| PathBuf::from("tracer-job")),
    };
    let opts = Options {
        nodes: args.nodes.max(1),
        cgroup_driver: args.cgroup_driver,
        runtime: args.runtime,
        tracer_job,
        replay,
        watch_history: args.watch_history,
        job_clock_speed: args.job_clock_speed,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let cluster = Cluster::new(opts)?;
        let running = server::start(cluster, faults).await?;
        kubeconfig::write(&args.kubeconfig, &running.base_url())?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready")?;
            out.flush()?;
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = parent_gone() => eprintln!("kube-double: parent process exited; shutting down"),
        }
        running.shutdown().await;
        Ok(())
    })
}

/// Resolves when the process that started us is gone (we were re-parented), so a test
/// runner killed with SIGKILL does not leave a double and its pods running.
async fn parent_gone() {
    // SAFETY: getppid(2) cannot fail.
    let parent = unsafe { libc::getppid() };
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // SAFETY: as above.
        if unsafe { libc::getppid() } != parent {
            return;
        }
    }
}
