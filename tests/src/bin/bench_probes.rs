//! Benchmark: the event probes against bpftrace one-liners doing the same job, in one run.
//!
//! For each probe it measures (1) the nanoseconds the probe adds to the operation that
//! triggers it (an exec, an open, ...), against the untraced operation and bpftrace's
//! equivalent, in interleaved rounds; and (2) the event rate the probe sustains without
//! loss: the operation runs flat out, then at halved paces until nothing is lost, then
//! bisects between the last lossy and the first loss-free pace. Prints a markdown report
//! of medians and ratios.
//!
//! The workload runs in a cgroup of its own, so the events it caused are told apart
//! from those of everything else on the machine (both tracers trace the whole node).
//!
//! `bench-probes [--rounds N] [--only PROBE] [--out FILE]`; run as root with bpftrace
//! installed and tracefs mounted (`tests/bench.sh` does both).

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead, BufReader, Read, Write},
    os::{
        fd::AsRawFd,
        unix::{fs::OpenOptionsExt, process::CommandExt},
    },
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use e2e::{
    binaries,
    cgroup::cgroup2_mount,
    loopdev::LoopDevice,
    stats::{median, range},
    summary::Figure,
};

// The kernel-counted comparison, in a file of its own.
#[path = "bench_probes/kernel_time.rs"]
mod kernel_time;
use tracer_protocol::{Decoded, ErrorCode, Record, decode_line};

/// One probe, its trigger and bpftrace's version of the same job. A probe the built
/// tracer does not know is skipped, so cases for probes still on their way can be
/// listed here before they land.
struct Case {
    probe: &'static str,
    /// The probe's entry in the trace spec.
    spec: &'static str,
    /// The operation that fires the probe once, as the report describes it.
    trigger: &'static str,
    /// Operations per timed measurement.
    ops: u64,
    /// Sets the operation up (a listener, a signal disposition, ...) and returns it.
    workload: fn() -> Workload,
    /// bpftrace's one-liner for the same job, where bpftrace can express it.
    bpftrace: Option<&'static str>,
}

/// One triggering operation; whatever it owns is released when it is dropped.
type Workload = Box<dyn FnMut()>;

const CASES: &[Case] = &[
    Case {
        probe: "exec",
        spec: r#"{"probe":"exec"}"#,
        trigger: "fork + exec of /bin/true, waited for",
        ops: 600,
        workload: || Box::new(exec_true),
        bpftrace: Some(
            "tracepoint:syscalls:sys_enter_execve { printf(\"%d %s \", pid, str(args->filename)); join(args->argv); } \
tracepoint:syscalls:sys_exit_execve { printf(\"%d %d\\n\", pid, args->ret); }",
        ),
    },
    Case {
        probe: "open",
        spec: r#"{"probe":"open"}"#,
        trigger: "openat + close of /etc/hostname",
        ops: 200_000,
        workload: || Box::new(open_close),
        bpftrace: Some(
            "tracepoint:syscalls:sys_enter_openat { @f[tid] = args->filename; @t[tid] = nsecs; } \
tracepoint:syscalls:sys_exit_openat /@t[tid]/ { printf(\"%d %s %d %d\\n\", pid, str(@f[tid]), args->ret, nsecs - @t[tid]); delete(@f[tid]); delete(@t[tid]); }",
        ),
    },
    Case {
        probe: "exit",
        spec: r#"{"probe":"exit"}"#,
        trigger: "fork of a child that exits at once (`_exit(0)`), waited for",
        ops: 3_000,
        workload: || Box::new(fork_exit),
        bpftrace: Some(
            "tracepoint:sched:sched_process_exit /args->group_dead/ { printf(\"%d %d %s %d %d\\n\", pid, curtask->real_parent->tgid, comm, curtask->exit_code, nsecs - curtask->group_leader->start_time); }",
        ),
    },
    Case {
        probe: "signal",
        spec: r#"{"probe":"signal"}"#,
        trigger: "kill(self, SIGUSR1) with SIGUSR1 ignored (generated, not delivered)",
        ops: 200_000,
        workload: ignored_sigusr1_to_self,
        bpftrace: Some(
            "tracepoint:signal:signal_generate { printf(\"%d %d %s %d %d %d %d %s %d %d\\n\", pid, tid, comm, args->sig, args->errno, args->code, args->pid, args->comm, args->group, args->result); }",
        ),
    },
    Case {
        probe: "tcp-connect",
        spec: r#"{"probe":"tcp-connect"}"#,
        trigger: "TCP connect to a listener on 127.0.0.1, accepted, closed with a reset (no TIME_WAIT)",
        ops: 5_000,
        workload: loopback_connect,
        bpftrace: Some(
            "tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->newstate == 2/ { @s[args->skaddr] = nsecs; } \
tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->oldstate == 2 && @s[args->skaddr]/ { printf(\"%d %s %d %d %d\\n\", pid, comm, args->dport, args->newstate, nsecs - @s[args->skaddr]); delete(@s[args->skaddr]); }",
        ),
    },
    Case {
        probe: "tcp-life",
        spec: r#"{"probe":"tcp-life"}"#,
        trigger: "the tcp-connect trigger; both ends of each connection end, so two events per operation",
        ops: 5_000,
        workload: loopback_connect,
        bpftrace: Some(
            "tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->newstate != 7 && !@s[args->skaddr]/ { @s[args->skaddr] = nsecs; } \
tracepoint:sock:inet_sock_set_state /args->protocol == 6 && args->newstate == 7 && @s[args->skaddr]/ { printf(\"%d %s %d %d %d\\n\", pid, comm, args->sport, args->dport, nsecs - @s[args->skaddr]); delete(@s[args->skaddr]); }",
        ),
    },
    Case {
        probe: "tcp-reset",
        spec: r#"{"probe":"tcp-reset"}"#,
        trigger: "the tcp-connect trigger: the linger-0 close sends a reset and the accepted end receives it, so two events per operation",
        ops: 5_000,
        workload: loopback_connect,
        bpftrace: Some(
            "tracepoint:tcp:tcp_send_reset { printf(\"sent %d %s %d\\n\", pid, comm, args->state); } \
tracepoint:tcp:tcp_receive_reset { printf(\"received %d %s\\n\", pid, comm); }",
        ),
    },
    Case {
        probe: "packet-drop",
        spec: r#"{"probe":"packet-drop"}"#,
        trigger: "UDP datagram to a closed port on 127.0.0.1 (dropped: NO_SOCKET)",
        ops: 100_000,
        workload: udp_to_closed_port,
        bpftrace: Some(
            "tracepoint:skb:kfree_skb /args->reason > 1/ { printf(\"%d %d %p\\n\", args->reason, args->protocol, args->location); }",
        ),
    },
    Case {
        probe: "syscall-count",
        spec: r#"{"probe":"syscall-count"}"#,
        trigger: "getppid",
        ops: 2_000_000,
        workload: || Box::new(getppid),
        bpftrace: Some(
            "tracepoint:raw_syscalls:sys_exit { @[args->id, args->ret < 0 && args->ret >= -4095 ? -args->ret : 0] = count(); }",
        ),
    },
    Case {
        probe: "runq-latency",
        spec: r#"{"probe":"runq-latency"}"#,
        trigger: "pipe ping-pong with a thread: two wakeups and two context switches",
        ops: 50_000,
        workload: ping_pong,
        bpftrace: Some(
            "tracepoint:sched:sched_wakeup,tracepoint:sched:sched_wakeup_new { @q[args->pid] = nsecs; } \
tracepoint:sched:sched_switch /@q[args->next_pid]/ { @ns = hist(nsecs - @q[args->next_pid]); delete(@q[args->next_pid]); }",
        ),
    },
    Case {
        probe: "block-latency",
        spec: r#"{"probe":"block-latency"}"#,
        trigger: "4 KiB O_DIRECT read from a loop device over a 64 MiB file, offsets cycling",
        ops: 20_000,
        workload: loop_device_read,
        bpftrace: Some(
            "tracepoint:block:block_io_start { @s[args->dev, args->sector] = nsecs; } \
tracepoint:block:block_rq_complete /@s[args->dev, args->sector]/ { @[args->dev, args->rwbs] = hist(nsecs - @s[args->dev, args->sector]); delete(@s[args->dev, args->sector]); }",
        ),
    },
];

/// How long a tracer may take to attach; bpftrace compiles its script first, which a
/// busy machine can make slow.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(90);

/// Written to bpftrace's stderr once every probe is attached (BEGIN fires after them).
/// Not a printf: with `-B full`, which buffers bpftrace's output as tracer-job buffers
/// its own, a printf (or `system`'s captured stdout) stays in the buffer until it
/// fills, which a script that only counts never does. Needs `--unsafe`.
const READY: &str = "BEGIN { system(\"echo attached >&2\"); }";

fn exec_true() {
    let status = Command::new("/bin/true").status().expect("run /bin/true");
    assert!(status.success(), "/bin/true failed: {status}");
}

fn open_close() {
    // SAFETY: a NUL-terminated path; the descriptor is closed at once.
    unsafe {
        let fd = libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}

fn fork_exit() {
    // SAFETY: the child only calls `_exit`, which is async-signal-safe; the parent reaps it.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            libc::_exit(0);
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

fn getppid() {
    // SAFETY: getppid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_getppid) };
}

/// Restores SIGUSR1's default disposition when the workload ends, so the tracers
/// started afterwards do not inherit the ignored signal.
struct IgnoredSigusr1;

impl IgnoredSigusr1 {
    fn send(&self) {
        // SAFETY: a signal this process ignores, sent to itself.
        unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    }
}

impl Drop for IgnoredSigusr1 {
    fn drop(&mut self) {
        // SAFETY: resetting a signal disposition.
        unsafe { libc::signal(libc::SIGUSR1, libc::SIG_DFL) };
    }
}

fn ignored_sigusr1_to_self() -> Workload {
    // SAFETY: ignoring a signal nothing else in this program uses.
    unsafe { libc::signal(libc::SIGUSR1, libc::SIG_IGN) };
    let guard = IgnoredSigusr1;
    Box::new(move || guard.send())
}

fn loopback_connect() -> Workload {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let address = listener.local_addr().expect("listener address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    Box::new(move || {
        let stream = std::net::TcpStream::connect(address).expect("connect to 127.0.0.1");
        // Linger 0: close resets, so a long run leaves no TIME_WAIT to exhaust ports.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and option of the right size.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            )
        };
    })
}

/// A thread that answers every byte on one pipe with a byte on another.
fn ping_pong() -> Workload {
    let (mut ping_rx, mut ping_tx) = std::io::pipe().expect("pipe");
    let (mut pong_rx, mut pong_tx) = std::io::pipe().expect("pipe");
    std::thread::spawn(move || {
        let mut byte = [0u8];
        while ping_rx.read_exact(&mut byte).is_ok() {
            if pong_tx.write_all(&byte).is_err() {
                break;
            }
        }
    });
    Box::new(move || {
        let mut byte = [0u8];
        ping_tx
            .write_all(&byte)
            .expect("write to the ping-pong thread");
        pong_rx
            .read_exact(&mut byte)
            .expect("read from the ping-pong thread");
    })
}

fn loop_device_read() -> Workload {
    let mut reader = DirectReader::new();
    Box::new(move || reader.read_next())
}

/// Direct reads of 4 KiB blocks from a loop device of its own, detached when dropped.
struct DirectReader {
    file: fs::File,
    buffer: *mut u8,
    block: u64,
    /// Dropped after `file`, which holds it open.
    _device: LoopDevice,
}

impl DirectReader {
    const BLOCK: usize = 4096;
    const BLOCKS: u64 = 16 * 1024;

    fn layout() -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(Self::BLOCK, Self::BLOCK).expect("a valid layout")
    }

    fn new() -> Self {
        let device = LoopDevice::create(Self::BLOCKS * Self::BLOCK as u64);
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(device.path())
            .unwrap_or_else(|err| panic!("open {} for direct I/O: {err}", device.path().display()));
        // SAFETY: a layout of non-zero size; freed in Drop.
        let buffer = unsafe { std::alloc::alloc(Self::layout()) };
        assert!(!buffer.is_null(), "allocate an aligned buffer");
        DirectReader {
            file,
            buffer,
            block: 0,
            _device: device,
        }
    }

    fn read_next(&mut self) {
        self.block = (self.block + 1) % Self::BLOCKS;
        // SAFETY: an aligned buffer of BLOCK bytes that lives as long as self, an
        // aligned offset within the device.
        let read = unsafe {
            libc::pread(
                self.file.as_raw_fd(),
                self.buffer.cast(),
                Self::BLOCK,
                (self.block * Self::BLOCK as u64) as libc::off_t,
            )
        };
        assert_eq!(
            read,
            Self::BLOCK as isize,
            "direct read from the loop device"
        );
    }
}

impl Drop for DirectReader {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.buffer, Self::layout()) };
    }
}

fn udp_to_closed_port() -> Workload {
    // A port bound and released at once is closed, and stays so for the run.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("find a free UDP port")
        .port();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP socket");
    Box::new(move || {
        let _ = socket.send_to(b"x", ("127.0.0.1", port));
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Tracer {
    Untraced,
    Ours,
    Bpftrace,
}

impl Tracer {
    const ALL: [Tracer; 3] = [Tracer::Untraced, Tracer::Ours, Tracer::Bpftrace];

    fn label(self) -> &'static str {
        match self {
            Tracer::Untraced => "untraced",
            Tracer::Ours => "tracer-job",
            Tracer::Bpftrace => "bpftrace",
        }
    }
}

/// The cgroup the benchmark (and so its workload) runs in while it measures, so its
/// events can be counted apart from the rest of the machine's. The tracers are started
/// back in the cgroup the benchmark came from.
struct WorkloadCgroup {
    dir: PathBuf,
    id: u64,
    home_procs: PathBuf,
}

impl WorkloadCgroup {
    fn enter() -> Self {
        use std::os::unix::fs::MetadataExt;
        let mount = cgroup2_mount();
        let own = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
        let home = own
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .expect("a cgroup v2 entry in /proc/self/cgroup");
        let home_procs = mount
            .join(home.trim_start_matches('/'))
            .join("cgroup.procs");
        // Left behind by runs that were interrupted; a cgroup still in use is not removed.
        for stale in fs::read_dir(&mount).into_iter().flatten().flatten() {
            if stale
                .file_name()
                .to_string_lossy()
                .starts_with("kubectl-ebpf-bench-")
            {
                let _ = fs::remove_dir(stale.path());
            }
        }
        let dir = mount.join(format!("kubectl-ebpf-bench-{}", std::process::id()));
        fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("create cgroup {} (run as root): {err}", dir.display()));
        fs::write(dir.join("cgroup.procs"), "0")
            .unwrap_or_else(|err| panic!("move the benchmark into {}: {err}", dir.display()));
        let id = fs::metadata(&dir)
            .unwrap_or_else(|err| panic!("stat {}: {err}", dir.display()))
            .ino();
        WorkloadCgroup {
            dir,
            id,
            home_procs,
        }
    }

    /// Makes `command`'s process go back to the benchmark's original cgroup before it
    /// executes, so nothing a tracer does counts as the workload's; and end with the
    /// benchmark.
    fn leave(&self, command: &mut Command) {
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(&self.home_procs)
            .unwrap_or_else(|err| panic!("open {}: {err}", self.home_procs.display()));
        // SAFETY: between fork and exec, one write on a descriptor opened before the
        // fork; nothing is allocated.
        unsafe {
            command.pre_exec(move || {
                // Stopped with the benchmark, should it be interrupted.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // "0" is the writing process itself.
                if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) == 1 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
}

impl Drop for WorkloadCgroup {
    fn drop(&mut self) {
        let _ = fs::write(&self.home_procs, "0");
        let _ = fs::remove_dir(&self.dir);
    }
}

/// What a tracer wrote while it ran.
#[derive(Default)]
struct Tally {
    /// Event lines (bpftrace: output lines).
    events: u64,
    /// Events from the workload's cgroup (tracer-job only).
    own: u64,
    /// Cumulative loss the tracer reported.
    lost: u64,
    /// Last cumulative value of every histogram and counter, for probes that aggregate
    /// in the kernel instead of sending events.
    counted: BTreeMap<String, u64>,
}

impl Tally {
    fn counted(&self) -> u64 {
        self.counted.values().sum()
    }
}

enum StartError {
    /// The tracer refused the spec because it has no such probe.
    NoProbe,
    Failed(String),
}

/// A running tracer whose output a thread reads and tallies.
struct Running {
    child: Child,
    reader: JoinHandle<Tally>,
}

impl Running {
    fn start(
        tracer: Tracer,
        case: &Case,
        cgroup: &WorkloadCgroup,
    ) -> Option<Result<Running, StartError>> {
        let mut command = match tracer {
            Tracer::Untraced => return None,
            Tracer::Ours => Command::new(binaries::tracer()),
            Tracer::Bpftrace => {
                let script = case.bpftrace?;
                let mut command = Command::new("bpftrace");
                command.args(["--unsafe", "-B", "full", "-e", &format!("{script} {READY}")]);
                command
            }
        };
        cgroup.leave(&mut command);
        let mut child = match command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => {
                return Some(Err(StartError::Failed(format!(
                    "cannot start {}: {err}",
                    tracer.label()
                ))));
            }
        };
        let mut stdin = child.stdin.take().expect("piped stdin");
        if tracer == Tracer::Ours {
            let spec = format!(r#"{{"version":1,"probes":[{}]}}"#, case.spec);
            stdin.write_all(spec.as_bytes()).expect("write spec");
        }
        drop(stdin);
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = child.stderr.take().expect("piped stderr");
        let (attached, is_attached) = mpsc::channel();
        let own = cgroup.id;
        let reader = {
            let attached = attached.clone();
            std::thread::spawn(move || match tracer {
                Tracer::Bpftrace => read_bpftrace(stdout),
                _ => read_ours(stdout, own, &attached),
            })
        };
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tracer == Tracer::Bpftrace && line.trim() == "attached" {
                    let _ = attached.send(Ok(()));
                } else {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
            if tracer == Tracer::Bpftrace {
                let _ = attached.send(Err(StartError::Failed(
                    "it ended before attaching".to_owned(),
                )));
            }
            text
        });
        let outcome = is_attached.recv_timeout(ATTACH_TIMEOUT);
        let failed = |why: String| {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
            why
        };
        match outcome {
            Ok(Ok(())) => Some(Ok(Running { child, reader })),
            Ok(Err(StartError::NoProbe)) => {
                let _ = child.wait();
                Some(Err(StartError::NoProbe))
            }
            Ok(Err(StartError::Failed(why))) => {
                let why = failed(why);
                let _ = child.wait();
                let said = stderr.join().unwrap_or_default();
                Some(Err(StartError::Failed(format!(
                    "{} did not attach: {why} {}",
                    tracer.label(),
                    last_error_line(&said)
                ))))
            }
            Err(_) => {
                failed(String::new());
                let _ = child.wait();
                let said = stderr.join().unwrap_or_default();
                Some(Err(StartError::Failed(format!(
                    "{} did not attach within {} s {}",
                    tracer.label(),
                    ATTACH_TIMEOUT.as_secs(),
                    last_error_line(&said)
                ))))
            }
        }
    }

    /// CPU time the tracer's process has used so far, all threads, in ns.
    fn cpu_ns(&self) -> u64 {
        process_cpu_ns(self.child.id()).unwrap_or(0)
    }

    /// Stops the tracer with SIGINT and returns what it wrote, its final records
    /// (the complete `lost` count, the last drain of events) included.
    fn stop(mut self) -> Tally {
        e2e::interrupt::interrupt(&mut self.child);
        self.reader
            .join()
            .expect("the output reader does not panic")
    }
}

/// CPU time of a process's live threads, in ns, from /proc/PID/task/*/schedstat.
fn process_cpu_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let stat = fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// CPU time of the calling thread plus that of its reaped children (the processes an
/// operation forks), in ns; the benchmark's output readers run on other threads and
/// are not counted.
fn workload_cpu_ns() -> u64 {
    let of = |who| {
        // SAFETY: a zeroed rusage is valid, and getrusage fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut usage) };
        let ns =
            |time: libc::timeval| time.tv_sec as u64 * 1_000_000_000 + time.tv_usec as u64 * 1000;
        ns(usage.ru_utime) + ns(usage.ru_stime)
    };
    of(libc::RUSAGE_THREAD) + of(libc::RUSAGE_CHILDREN)
}

/// The last line of a tracer's stderr that reads like an error, to say why it failed.
fn last_error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|line| !line.contains("RLIMIT_MEMLOCK") && !line.trim().is_empty())
        .unwrap_or("")
        .trim()
}

fn read_ours(
    stdout: impl BufRead,
    own_cgroup: u64,
    attached: &mpsc::Sender<Result<(), StartError>>,
) -> Tally {
    let mut tally = Tally::default();
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        // Events are most lines: count them without decoding the whole record.
        if line.starts_with(r#"{"type":"event""#) {
            tally.events += 1;
            if event_cgroup(&line) == Some(own_cgroup) {
                tally.own += 1;
            }
            continue;
        }
        let Decoded::Record(record) = decode_line(&line) else {
            continue;
        };
        match record {
            Record::Attached { .. } => {
                let _ = attached.send(Ok(()));
            }
            Record::Lost { count, .. } => tally.lost = count,
            Record::Hist {
                name, key, buckets, ..
            } => {
                let total = buckets.iter().map(|bucket| bucket.count).sum();
                tally.counted.insert(format!("{name} {key:?}"), total);
            }
            Record::Count {
                name, key, value, ..
            } => {
                tally.counted.insert(format!("{name} {key:?}"), value);
            }
            Record::Error { code, message, .. } => {
                let refused = code == ErrorCode::InvalidSpec && message.contains("unknown variant");
                let _ = attached.send(Err(if refused {
                    StartError::NoProbe
                } else {
                    StartError::Failed(message)
                }));
            }
            _ => {}
        }
    }
    let _ = attached.send(Err(StartError::Failed(
        "it ended before attaching".to_owned(),
    )));
    tally
}

/// The `cgroup` of an event line: the header's, which comes before the probe's fields.
fn event_cgroup(line: &str) -> Option<u64> {
    let start = line.find(r#""cgroup":"#)? + r#""cgroup":"#.len();
    let digits = &line[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

fn read_bpftrace(stdout: impl BufRead) -> Tally {
    let mut tally = Tally::default();
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        if let Some(lost) = line
            .strip_prefix("Lost ")
            .and_then(|rest| rest.strip_suffix(" events"))
            .and_then(|count| count.parse::<u64>().ok())
        {
            tally.lost += lost;
        } else if !line.starts_with("Attaching ") {
            tally.events += 1;
        }
    }
    tally
}

/// Mean nanoseconds per operation over `ops` operations.
fn time_ops(op: &mut Workload, ops: u64) -> f64 {
    let started = Instant::now();
    for _ in 0..ops {
        op();
    }
    started.elapsed().as_nanos() as f64 / ops as f64
}

/// Runs the operation for `period` at `rate` per second (flat out when `None`); returns
/// how many ran and for how long.
fn paced(op: &mut Workload, period: Duration, rate: Option<f64>) -> (u64, Duration) {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < period {
        if let Some(rate) = rate {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            if done >= due {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
        }
        op();
        done += 1;
    }
    (done, started.elapsed())
}

/// One tracer's ns per operation over the rounds.
#[derive(Default)]
struct Timings {
    /// Wall time per operation.
    per_op: Vec<f64>,
    /// CPU time of the operation's thread and children per operation.
    cpu_per_op: Vec<f64>,
    /// CPU time of the tracer's process per operation, while timed.
    tracer_cpu_per_op: Vec<f64>,
    /// Events the tracer reported lost while it was timed, over all rounds.
    lost: u64,
}

impl Timings {
    fn median(&self) -> f64 {
        median(self.per_op.clone())
    }

    fn cpu(&self) -> f64 {
        median(self.cpu_per_op.clone())
    }

    /// How far the operation's CPU time per operation moved between rounds.
    fn cpu_spread(&self) -> f64 {
        let (min, max) = range(&self.cpu_per_op);
        (max - min).max(0.0)
    }

    fn tracer_cpu(&self) -> f64 {
        median(self.tracer_cpu_per_op.clone())
    }

    fn range(&self) -> (f64, f64) {
        range(&self.per_op)
    }
}

/// ns per operation under each tracer, in interleaved rounds whose order rotates, so
/// neither drift on the machine nor the order of the three favours one of them.
fn cost(
    case: &Case,
    op: &mut Workload,
    rounds: usize,
    cgroup: &WorkloadCgroup,
) -> Result<[Timings; 3], String> {
    time_ops(op, case.ops / 10 + 1); // warm up
    let mut timings: [Timings; 3] = Default::default();
    for round in 0..rounds {
        eprint!("  {} cost round {}/{rounds}:", case.probe, round + 1);
        for step in 0..Tracer::ALL.len() {
            let index = (round + step) % Tracer::ALL.len();
            let tracer = Tracer::ALL[index];
            let mut started = Running::start(tracer, case, cgroup);
            if let Some(Err(StartError::Failed(why))) = &started {
                eprint!(" ({why}; trying again)");
                started = Running::start(tracer, case, cgroup);
            }
            let running = match started {
                None if tracer != Tracer::Untraced => continue, // bpftrace has no one-liner
                None => None,
                Some(Ok(running)) => Some(running),
                Some(Err(StartError::NoProbe)) => return Err("tracer has no probe".to_owned()),
                Some(Err(StartError::Failed(why))) => return Err(why),
            };
            let tracer_cpu = running.as_ref().map(Running::cpu_ns);
            let cpu = workload_cpu_ns();
            let per_op = time_ops(op, case.ops);
            let cpu_per_op = workload_cpu_ns().saturating_sub(cpu) as f64 / case.ops as f64;
            if let Some(running) = running {
                let used = running.cpu_ns().saturating_sub(tracer_cpu.unwrap_or(0));
                timings[index]
                    .tracer_cpu_per_op
                    .push(used as f64 / case.ops as f64);
                let tally = running.stop();
                // A tracer that saw nothing did not measure anything.
                if tally.events == 0 && tally.counted() == 0 {
                    return Err(format!(
                        "{} recorded nothing while timed; did it attach?",
                        tracer.label()
                    ));
                }
                timings[index].lost += tally.lost;
            }
            timings[index].per_op.push(per_op);
            timings[index].cpu_per_op.push(cpu_per_op);
            eprint!(" {}={per_op:.0}ns", tracer.label());
        }
        eprintln!();
    }
    Ok(timings)
}

/// One pace of the loss-free search.
struct RateRun {
    /// Operations per second the workload achieved.
    offered: f64,
    ops: u64,
    tally: Tally,
    /// Events the workload caused that reached the tracer's stdout, per second (for
    /// probes that aggregate in the kernel: occurrences counted, node-wide).
    delivered: f64,
}

impl RateRun {
    fn workload_events(&self) -> u64 {
        if self.tally.events > 0 {
            self.tally.own
        } else {
            self.tally.counted()
        }
    }
}

struct Rate {
    flat_out: RateRun,
    /// The fastest pace tried at which nothing was lost; the flat-out run itself when it
    /// lost nothing (the workload, not the tracer, set the limit).
    loss_free: Option<RateRun>,
    /// The slowest pace tried at which events were lost.
    lossy: Option<RateRun>,
}

fn run_at(
    case: &Case,
    op: &mut Workload,
    rate: Option<f64>,
    cgroup: &WorkloadCgroup,
) -> Result<RateRun, String> {
    const PERIOD: Duration = Duration::from_secs(2);
    let running = match Running::start(Tracer::Ours, case, cgroup) {
        Some(Ok(running)) => running,
        Some(Err(StartError::Failed(why))) => return Err(why),
        _ => return Err("tracer has no probe".to_owned()),
    };
    let (ops, elapsed) = paced(op, PERIOD, rate);
    let tally = running.stop();
    let mut run = RateRun {
        offered: ops as f64 / elapsed.as_secs_f64(),
        ops,
        tally,
        delivered: 0.0,
    };
    run.delivered = run.workload_events() as f64 / elapsed.as_secs_f64();
    eprintln!(
        "  {} rate: {} ops at {:.0}/s; {} events from the workload ({} in all), {} lost",
        case.probe,
        run.ops,
        run.offered,
        run.workload_events(),
        run.tally.events,
        run.tally.lost
    );
    Ok(run)
}

/// Flat out first; then halve the pace until nothing is lost; then bisect twice
/// between the loss-free and the lossy pace.
fn sustained_rate(case: &Case, op: &mut Workload, cgroup: &WorkloadCgroup) -> Result<Rate, String> {
    let flat_out = run_at(case, op, None, cgroup)?;
    if flat_out.tally.lost == 0 {
        return Ok(Rate {
            flat_out,
            loss_free: None,
            lossy: None,
        });
    }
    let mut lossy_pace = flat_out.offered;
    let mut lossy: Option<RateRun> = None;
    let mut loss_free: Option<(f64, RateRun)> = None;
    for _ in 0..6 {
        let pace = lossy_pace / 2.0;
        let run = run_at(case, op, Some(pace), cgroup)?;
        if run.tally.lost == 0 {
            loss_free = Some((pace, run));
            break;
        }
        lossy_pace = pace;
        lossy = Some(run);
    }
    let Some((mut free_pace, mut free_run)) = loss_free else {
        return Ok(Rate {
            flat_out,
            loss_free: None,
            lossy,
        });
    };
    for _ in 0..2 {
        let pace = (free_pace + lossy_pace) / 2.0;
        let run = run_at(case, op, Some(pace), cgroup)?;
        if run.tally.lost == 0 {
            (free_pace, free_run) = (pace, run);
        } else {
            lossy_pace = pace;
            lossy = Some(run);
        }
    }
    Ok(Rate {
        flat_out,
        loss_free: Some(free_run),
        lossy,
    })
}

enum Outcome {
    Measured(Box<([Timings; 3], Rate)>),
    Skipped(String),
    Failed(String),
}

fn measure(case: &Case, rounds: usize, cgroup: &WorkloadCgroup) -> Outcome {
    // Ask the tracer first: a probe it does not know is skipped, not failed.
    match Running::start(Tracer::Ours, case, cgroup) {
        Some(Ok(running)) => {
            running.stop();
        }
        Some(Err(StartError::NoProbe)) | None => {
            return Outcome::Skipped(format!("skipped: tracer has no probe {}", case.probe));
        }
        Some(Err(StartError::Failed(why))) => return Outcome::Failed(why),
    }
    let mut op = (case.workload)();
    let timings = match cost(case, &mut op, rounds, cgroup) {
        Ok(timings) => timings,
        Err(why) => return Outcome::Failed(why),
    };
    match sustained_rate(case, &mut op, cgroup) {
        Ok(rate) => Outcome::Measured(Box::new((timings, rate))),
        Err(why) => Outcome::Failed(why),
    }
}

fn main() {
    let mut rounds = 5usize;
    let mut only: Option<String> = None;
    let mut cost_too = true;
    let mut summary = None;
    let mut out_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match arg.as_str() {
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--only" => only = Some(value()),
            "--no-cost" => cost_too = false,
            "--summary" => summary = Some(value()),
            "--out" => out_file = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    if let Some(only) = &only {
        assert!(
            CASES.iter().any(|case| case.probe == *only),
            "no case for probe {only}; cases: {}",
            CASES
                .iter()
                .map(|case| case.probe)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let cgroup = WorkloadCgroup::enter();
    let mut results = Vec::new();
    for case in CASES {
        if only.as_deref().is_some_and(|only| only != case.probe) {
            continue;
        }
        eprintln!("{}:", case.probe);
        let outcome = measure(case, rounds, &cgroup);
        match &outcome {
            Outcome::Skipped(why) => eprintln!("  {why}"),
            Outcome::Failed(why) => eprintln!("  failed: {why}"),
            Outcome::Measured(_) => {}
        }
        results.push((case, outcome));
    }
    let costs: Vec<(&Case, Tracer, Result<TracerCost, String>)> = if cost_too {
        COST_PROBES
            .iter()
            .filter_map(|probe| CASES.iter().find(|case| case.probe == *probe))
            .filter(|case| only.as_deref().is_none_or(|only| only == case.probe))
            .flat_map(|case| {
                [Tracer::Ours, Tracer::Bpftrace]
                    .into_iter()
                    .map(move |tracer| (case, tracer))
            })
            .map(|(case, tracer)| {
                eprintln!("{} cost, {}:", case.probe, tracer.label());
                let cost = tracer_cost(case, tracer, rounds.min(3), &cgroup);
                if let Err(why) = &cost {
                    eprintln!("  failed: {why}");
                }
                (case, tracer, cost)
            })
            .collect()
    } else {
        Vec::new()
    };
    // Every probe measured above that bpftrace can do too.
    let kernel_times: Vec<_> = results
        .iter()
        .filter(|(case, outcome)| {
            case.bpftrace.is_some() && matches!(outcome, Outcome::Measured(_))
        })
        .map(|(case, _)| *case)
        .map(|case| {
            eprintln!("{} cost, counted:", case.probe);
            let time = kernel_time::measure(case, rounds, &cgroup);
            if let Err(why) = &time {
                eprintln!("  failed: {why}");
            }
            (case, time)
        })
        .collect();
    drop(cgroup);

    let mut figures = summary_figures(&results, &costs);
    figures.extend(kernel_time::figures(&kernel_times));
    e2e::summary::append(summary.as_deref(), &figures);
    let mut report = report(rounds, &results);
    if !costs.is_empty() {
        report.push_str(&cost_report(&costs));
    }
    if !kernel_times.is_empty() {
        report.push_str(&kernel_time::report(&kernel_times));
    }
    print!("{report}");
    if let Some(path) = out_file {
        std::fs::write(&path, &report).unwrap_or_else(|err| panic!("write {path}: {err}"));
    }
}

fn report(rounds: usize, results: &[(&Case, Outcome)]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Probe benchmarks: tracer-job and bpftrace, side by side\n\n\
Written by `bench-probes` (tests/src/bin/bench_probes.rs) from one run. To run it again, \
as root: `tests/bench.sh` (builds in release, installs bpftrace and mounts tracefs when \
missing, and runs every benchmark), or after `cargo build --release --locked -p tracer-job \
-p e2e`: `target/release/bench-probes [--rounds N] [--only PROBE] --out \
docs/benchmarks-probes.md`. How it measures: [benchmarks.md](benchmarks.md).\n\n\
Machine: {} CPUs ({}), kernel {}; {}. Both tracers trace the whole node and their output \
is read and discarded by the benchmark; the workload runs in a cgroup of its own, so the \
events it caused are counted apart from the rest of the machine's.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        bpftrace_version(),
    ));

    out.push_str(&format!(
        "## Added cost on the triggering operation\n\n\
Mean ns per operation while each tracer runs, attached before the clock starts; medians \
of {rounds} interleaved rounds (order rotating), with the range over the rounds. Added = \
traced median − untraced median. A tracer that lost events while timed (last column) \
did less work than it was given, and its figures are then low.\n\n\
| probe | untraced ns/op | tracer-job ns/op | bpftrace ns/op | added, tracer-job | added, bpftrace | tracer-job ÷ bpftrace | lost while timed (tracer-job / bpftrace) |\n\
|---|---:|---:|---:|---:|---:|---:|---:|\n"
    ));
    let ns = |timings: &Timings| {
        if timings.per_op.is_empty() {
            return "-".to_owned();
        }
        let (min, max) = timings.range();
        format!("{:.0} ({min:.0}–{max:.0})", timings.median())
    };
    for (case, outcome) in results {
        match outcome {
            Outcome::Measured(measured) => {
                let [untraced, ours, bpftrace] = &measured.0;
                let base = untraced.median();
                let ours_added = ours.median() - base;
                let has_bpftrace = !bpftrace.per_op.is_empty();
                let bpftrace_added = bpftrace.median() - base;
                let ratio = ratio(has_bpftrace, ours_added, bpftrace_added);
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {ours_added:.0} | {} | {ratio} | {} / {} |\n",
                    case.probe,
                    ns(untraced),
                    ns(ours),
                    ns(bpftrace),
                    if has_bpftrace {
                        format!("{bpftrace_added:.0}")
                    } else {
                        "-".to_owned()
                    },
                    ours.lost,
                    if has_bpftrace {
                        bpftrace.lost.to_string()
                    } else {
                        "-".to_owned()
                    },
                ));
            }
            Outcome::Skipped(why) | Outcome::Failed(why) => {
                out.push_str(&format!("| {} | {} |||||||\n", case.probe, one_line(why)));
            }
        }
    }

    out.push_str(
        "\nThe same runs in CPU time, which a busy machine disturbs less than wall time: the \
operation's own (its thread plus the processes it forks; in-kernel probe work lands here) \
and the tracer process's while the operation was timed (reading the ring or perf buffer, \
formatting, writing), per operation, medians.\n\n\
| probe | workload CPU ns/op, untraced | workload, under tracer-job | workload, under bpftrace | tracer-job process | bpftrace process | added (workload + tracer), tracer-job | added (workload + tracer), bpftrace | tracer-job ÷ bpftrace |\n\
|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (case, outcome) in results {
        let Outcome::Measured(measured) = outcome else {
            continue;
        };
        let [untraced, ours, bpftrace] = &measured.0;
        let base = untraced.cpu();
        let total = |timings: &Timings| timings.cpu() - base + timings.tracer_cpu();
        let has_bpftrace = !bpftrace.per_op.is_empty();
        let maybe = |value: f64| {
            if has_bpftrace {
                format!("{value:.0}")
            } else {
                "-".to_owned()
            }
        };
        out.push_str(&format!(
            "| {} | {base:.0} | {:.0} | {} | {:.0} | {} | {:.0} | {} | {} |\n",
            case.probe,
            ours.cpu(),
            maybe(bpftrace.cpu()),
            ours.tracer_cpu(),
            maybe(bpftrace.tracer_cpu()),
            total(ours),
            maybe(total(bpftrace)),
            ratio(has_bpftrace, total(ours), total(bpftrace)),
        ));
    }

    out.push_str(
        "\n## Events per second without loss (tracer-job)\n\n\
The operation runs for 2 s under a fresh tracer: flat out first; when the tracer reports \
a loss (its final cumulative `lost` record, read after SIGINT), at half the pace until \
nothing is lost, then twice bisecting between the loss-free and the lossy pace. \
\"Delivered\" counts the workload's `event` lines on the tracer's stdout; \"per op\" checks \
that each operation arrived (1.00 expected for one event per operation). When nothing is \
lost flat out, the workload on this machine, not the tracer, is the limit: the rate is a \
lower bound (≥).\n\n\
| probe | events/s delivered without loss | at ops/s | per op | flat out: ops/s, lost | slowest lossy pace: ops/s, lost |\n\
|---|---:|---:|---:|---:|---:|\n",
    );
    for (case, outcome) in results {
        let Outcome::Measured(measured) = outcome else {
            continue;
        };
        let rate = &measured.1;
        let per_op = |run: &RateRun| run.workload_events() as f64 / run.ops.max(1) as f64;
        let (delivered, free) = match &rate.loss_free {
            None if rate.flat_out.tally.lost == 0 => {
                (format!("≥ {:.0}", rate.flat_out.delivered), &rate.flat_out)
            }
            None => ("none loss-free".to_owned(), &rate.flat_out),
            Some(run) => (format!("{:.0}", run.delivered), run),
        };
        let aggregated = if free.tally.events == 0 {
            " (counted in the kernel, node-wide)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {} | {delivered}{aggregated} | {:.0} | {:.2} | {:.0}, {} | {} |\n",
            case.probe,
            free.offered,
            per_op(free),
            rate.flat_out.offered,
            rate.flat_out.tally.lost,
            rate.lossy.as_ref().map_or("-".to_owned(), |run| format!(
                "{:.0}, {}",
                run.offered, run.tally.lost
            )),
        ));
    }

    out.push_str("\n## What triggers each probe\n\n");
    for (case, outcome) in results {
        let status = match outcome {
            Outcome::Measured(_) => String::new(),
            Outcome::Skipped(why) | Outcome::Failed(why) => format!(" ({})", one_line(why)),
        };
        out.push_str(&format!(
            "- **{}**{status}: {}, {} per timed measurement. bpftrace: {}\n",
            case.probe,
            case.trigger,
            case.ops,
            case.bpftrace
                .map_or("no equivalent one-liner".to_owned(), |script| format!(
                    "`{script}`"
                )),
        ));
    }
    out.push_str(
        "\n`syscall-latency` is measured by `bench-syscall-latency` \
([benchmarks-results.md](benchmarks-results.md)). `oom-kill` is not benchmarked: its \
trigger is the kernel's OOM killer, which cannot be run thousands of times a second \
without harming the machine, and it fires on a path that is slow anyway. \
`tcp-retransmit` is not benchmarked: a retransmit needs a lost segment and a timer to \
fire (200 ms or more), so no workload makes them fast enough to measure a cost per \
operation. `cpu-time` has no operation of its own to time: it runs on every context \
switch, the hook `runq-latency`'s case already loads with a switch per operation. \
`packet-drop`'s rate row cannot count the workload's drops: a datagram to a closed port \
on 127.0.0.1 has no socket and is dropped in the host's network namespace, which the probe \
never attributes to a cgroup, so its events carry none and are not told apart from the \
node's (the cost rows are unaffected).\n",
    );
    out
}

/// The probes whose tracer's own cost is measured idle and under `COST_RATE`: one that
/// sends every event to the tracer, one that counts in the kernel.
const COST_PROBES: &[&str] = &["open", "syscall-count"];
/// The cost probe whose every operation is one event the tracer decodes and writes.
const EVERY_OP_AN_EVENT: &str = "open";
/// Operations per second of the busy window.
const COST_RATE: f64 = 100_000.0;
/// Length of the idle and of the busy window.
const COST_WINDOW: Duration = Duration::from_secs(5);

/// What a tracer process itself costs: idle (attached, the workload still), and while the
/// workload runs `COST_RATE` operations a second.
#[derive(Clone, Copy, Default)]
struct TracerCost {
    idle_cpu_pct: f64,
    idle_rss_mib: f64,
    busy_rate: f64,
    busy_cpu_pct: f64,
    peak_rss_mib: f64,
    lost: f64,
}

/// Medians over `rounds` fresh tracers of what each cost idle and busy.
fn tracer_cost(
    case: &Case,
    tracer: Tracer,
    rounds: usize,
    cgroup: &WorkloadCgroup,
) -> Result<TracerCost, String> {
    let mut op = (case.workload)();
    let mut runs = Vec::new();
    for _ in 0..rounds {
        let running = match Running::start(tracer, case, cgroup) {
            Some(Ok(running)) => running,
            Some(Err(StartError::NoProbe)) => return Err("the tracer has no such probe".into()),
            Some(Err(StartError::Failed(why))) => return Err(why),
            None => return Err(format!("{} has no one-liner for it", tracer.label())),
        };
        let pid = running.child.id();
        // Let start-up work (loading, the first snapshot) pass before measuring.
        std::thread::sleep(Duration::from_secs(1));
        let window = |from_ns: u64, took: Duration| {
            (running.cpu_ns().saturating_sub(from_ns)) as f64 / took.as_nanos() as f64 * 100.0
        };
        let idle_from = running.cpu_ns();
        let started = Instant::now();
        std::thread::sleep(COST_WINDOW);
        let idle_cpu_pct = window(idle_from, started.elapsed());
        let idle_rss_mib = memory_mib(pid, "VmRSS");
        let busy_from = running.cpu_ns();
        let (done, took) = paced(&mut op, COST_WINDOW, Some(COST_RATE));
        let busy_cpu_pct = window(busy_from, took);
        let peak_rss_mib = memory_mib(pid, "VmHWM");
        let tally = running.stop();
        runs.push(TracerCost {
            idle_cpu_pct,
            idle_rss_mib,
            busy_rate: done as f64 / took.as_secs_f64(),
            busy_cpu_pct,
            peak_rss_mib,
            lost: tally.lost as f64,
        });
    }
    let med = |field: fn(&TracerCost) -> f64| median(runs.iter().map(field).collect::<Vec<_>>());
    Ok(TracerCost {
        idle_cpu_pct: med(|c| c.idle_cpu_pct),
        idle_rss_mib: med(|c| c.idle_rss_mib),
        busy_rate: med(|c| c.busy_rate),
        busy_cpu_pct: med(|c| c.busy_cpu_pct),
        peak_rss_mib: med(|c| c.peak_rss_mib),
        lost: med(|c| c.lost),
    })
}

/// A memory figure of /proc/PID/status (`VmRSS`, `VmHWM`), in MiB.
fn memory_mib(pid: u32, field: &str) -> f64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn cost_report(costs: &[(&Case, Tracer, Result<TracerCost, String>)]) -> String {
    let mut out = format!(
        "\n## The tracer's own cost, idle and busy\n\n\
CPU and memory of the tracer process itself (all its threads, from \
`/proc/PID/task/*/schedstat` and `/proc/PID/status`), attached to the whole node: \
idle for {idle} s with the workload still (the rest of the machine runs as it does), \
then for {idle} s while the workload runs its operation {rate:.0} times a second (the \
achieved rate is shown). CPU % is of one CPU. Medians of up to 3 fresh tracers each. \
bpftrace's figures are its own process; both tracers' in-kernel work lands on the \
workload, as the tables above show.\n\n\
For `{every}`, whose every operation is an event the tracer decodes and writes as a \
line, busy ops/s ÷ busy CPU is what one core of the tracer delivers: the events per \
second of tracer CPU.\n\n\
| probe | tracer | idle CPU % | idle RSS MiB | busy ops/s | busy CPU % | peak RSS MiB | lost |\n\
|---|---|---:|---:|---:|---:|---:|---:|\n",
        idle = COST_WINDOW.as_secs(),
        rate = COST_RATE,
        every = EVERY_OP_AN_EVENT,
    );
    for (case, tracer, cost) in costs {
        match cost {
            Ok(cost) => out.push_str(&format!(
                "| {} | {} | {:.2} | {:.1} | {:.0} | {:.1} | {:.1} | {:.0} |\n",
                case.probe,
                tracer.label(),
                cost.idle_cpu_pct,
                cost.idle_rss_mib,
                cost.busy_rate,
                cost.busy_cpu_pct,
                cost.peak_rss_mib,
                cost.lost
            )),
            Err(why) => out.push_str(&format!(
                "| {} | {} | failed: {} | | | | | |\n",
                case.probe,
                tracer.label(),
                one_line(why)
            )),
        }
    }
    out
}

const BENCH: &str = "bench-probes";

/// The suite's headline figures: added CPU per operation against bpftrace, events per
/// second delivered without loss, and the tracer's own cost idle and busy.
fn summary_figures(
    results: &[(&Case, Outcome)],
    costs: &[(&Case, Tracer, Result<TracerCost, String>)],
) -> Vec<Figure> {
    let mut figures = Vec::new();
    for (case, outcome) in results {
        let Outcome::Measured(measured) = outcome else {
            continue;
        };
        let [untraced, ours, bpftrace] = &measured.0;
        let base = untraced.cpu();
        let total = |timings: &Timings| timings.cpu() - base + timings.tracer_cpu();
        if !bpftrace.per_op.is_empty() && total(ours) > 0.0 && total(bpftrace) > 0.0 {
            let figure = format!("added CPU per operation, {}", case.probe);
            // When the untraced operation alone moved between rounds by more than the
            // two tracers differ by, the difference says nothing either way: the counted
            // figure (last section) judges that probe instead.
            let spread = untraced.cpu_spread();
            let difference = (total(ours) - total(bpftrace)).abs();
            let figure = if difference <= spread {
                let target = format!(
                    "lower than bpftrace; within the noise, as the untraced operation \
                     moved by {spread:.0} ns between rounds (see the counted figure)"
                );
                Figure::new(BENCH, &figure, "ns", total(ours), &target)
                    .against("bpftrace", total(bpftrace))
            } else {
                Figure::new(BENCH, &figure, "ns", total(ours), "lower than bpftrace")
                    .against("bpftrace", total(bpftrace))
                    .met(total(ours) < total(bpftrace))
            };
            figures.push(figure);
        }
        let rate = &measured.1;
        let free = rate
            .loss_free
            .as_ref()
            .or((rate.flat_out.tally.lost == 0).then_some(&rate.flat_out));
        if let Some(free) = free
            && free.tally.events > 0
            && free.delivered > 0.0
        {
            let target = "≥ 500k events/s, loss always reported";
            let figure = if rate.loss_free.is_none() {
                // Nothing lost flat out: the workload, not the tracer, was the limit, so
                // the rate is a lower bound and cannot fail the target.
                Figure::new(
                    BENCH,
                    &format!(
                        "events/s delivered without loss, {} (≥: the workload's own limit here)",
                        case.probe
                    ),
                    "events/s",
                    free.delivered,
                    target,
                )
            } else {
                Figure::new(
                    BENCH,
                    &format!("events/s delivered without loss, {}", case.probe),
                    "events/s",
                    free.delivered,
                    target,
                )
                .met(free.delivered >= 500_000.0)
            };
            figures.push(figure);
        }
    }
    let cost_of = |probe: &str, tracer: Tracer| {
        costs
            .iter()
            .find(|(case, t, _)| case.probe == probe && *t == tracer)
            .and_then(|(_, _, cost)| cost.as_ref().ok())
    };
    for probe in COST_PROBES {
        let (Some(ours), bpftrace) = (
            cost_of(probe, Tracer::Ours),
            cost_of(probe, Tracer::Bpftrace),
        ) else {
            continue;
        };
        let mut idle = Figure::new(
            BENCH,
            &format!("tracer idle CPU, {probe}"),
            "% of a CPU",
            ours.idle_cpu_pct,
            "≤ 1%",
        )
        .met(ours.idle_cpu_pct <= 1.0);
        let mut busy = Figure::new(
            BENCH,
            &format!("tracer CPU at {:.0}k ops/s, {probe}", COST_RATE / 1000.0),
            "% of a CPU",
            ours.busy_cpu_pct,
            "documented",
        );
        if let Some(bpftrace) = bpftrace {
            idle = idle.against("bpftrace", bpftrace.idle_cpu_pct);
            busy = busy.against("bpftrace", bpftrace.busy_cpu_pct);
        }
        figures.push(idle);
        figures.push(busy);
        // Every operation of this probe is an event sent to the tracer: what one second of
        // the tracer's CPU delivers is what one core delivers.
        if *probe == EVERY_OP_AN_EVENT && ours.busy_cpu_pct > 0.0 && ours.lost == 0.0 {
            let per_cpu_second = ours.busy_rate / (ours.busy_cpu_pct / 100.0);
            figures.push(
                Figure::new(
                    BENCH,
                    &format!("events delivered per second of tracer CPU, {probe}"),
                    "events/s",
                    per_cpu_second,
                    "≥ 500k events/s on one core",
                )
                .met(per_cpu_second >= 500_000.0),
            );
        }
    }
    figures
}

/// Ours ÷ bpftrace, when both added something measurable.
fn ratio(has_bpftrace: bool, ours: f64, bpftrace: f64) -> String {
    if !has_bpftrace {
        "-".to_owned()
    } else if ours <= 0.0 || bpftrace <= 0.0 {
        "n/a (within the noise)".to_owned()
    } else {
        format!("**{:.2}×**", ours / bpftrace)
    }
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '|'], " ").trim().to_owned()
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn bpftrace_version() -> String {
    Command::new("bpftrace")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|_| "bpftrace not found".to_owned())
}
