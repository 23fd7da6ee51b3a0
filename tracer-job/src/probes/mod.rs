//! The built-in probes: each loads its own precompiled object, attaches, and turns its
//! maps into records.

pub mod block_latency;
mod connections;
pub mod cpu_time;
pub mod dns;
pub mod events;
pub mod exec;
pub mod exit;
mod filter;
mod hists;
pub mod http;
mod maps;
pub(crate) mod netns;
pub mod oom_kill;
pub mod open;
mod owners;
pub mod packet_drop;
mod payload;
pub mod profile;
pub mod runq_latency;
pub mod signal;
mod slots;
mod sock;
pub mod syscall_count;
pub mod syscall_latency;
mod task;
mod tcp;
pub mod tcp_connect;
pub mod tcp_life;
pub mod tcp_reset;
pub mod tcp_retransmit;
pub mod tracepoint;
pub mod uprobe;

use std::os::fd::RawFd;

use aya::{
    Ebpf, EbpfLoader,
    programs::{RawTracePoint, TracePoint},
};
use ebpf_common::event_filter::EventFilter as KernelFilter;
use tracer_protocol::{ErrorCode, EventFilter, ProbeSpec, Record};

use crate::{failure::Failure, targets::ResolvedTargets};
use events::{Decoder, EventStream};

/// A loaded, attached probe. Dropping it detaches and unloads everything it created.
pub trait Probe {
    fn name(&self) -> &'static str;

    /// The loaded object, whose programs' kernel run time the `stats` record reports.
    fn ebpf(&self) -> &Ebpf;

    /// Appends cumulative snapshot records. With `complete`, every record is written;
    /// otherwise only those that changed since the last call.
    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure>;

    /// The probe's event stream and the decoder of its events, for probes that send
    /// events.
    fn events(&mut self) -> Option<(&mut EventStream, Decoder)> {
        None
    }

    /// The descriptor that becomes readable when events wait.
    fn event_fd(&mut self) -> Option<RawFd> {
        self.events().map(|(stream, _)| stream.fd())
    }

    /// The trace ends: the last drain takes what happened until now, and what the probe
    /// holds back (requests waiting for an answer) goes out with it.
    fn end(&mut self) {
        if let Some((stream, _)) = self.events() {
            stream.end();
        }
    }

    /// Appends up to a batch of waiting events as records. True when more may wait.
    fn drain_events(&mut self, out: &mut Vec<Record>) -> bool {
        match self.events() {
            Some((stream, decode)) => stream.drain(out, decode),
            None => false,
        }
    }
}

pub fn attach(spec: &ProbeSpec, targets: &ResolvedTargets) -> Result<Box<dyn Probe>, Failure> {
    match spec {
        ProbeSpec::SyscallLatency {
            by_syscall,
            min_latency_ns,
            per_pod,
        } => Ok(Box::new(syscall_latency::SyscallLatency::attach(
            *by_syscall,
            *min_latency_ns,
            *per_pod,
            targets,
        )?)),
        ProbeSpec::Exec { filter } => Ok(Box::new(exec::attach(filter, targets)?)),
        ProbeSpec::Exit { filter } => Ok(Box::new(exit::attach(filter, targets)?)),
        ProbeSpec::Open { filter } => Ok(Box::new(open::attach(filter, targets)?)),
        ProbeSpec::Signal { filter } => Ok(Box::new(signal::attach(filter, targets)?)),
        ProbeSpec::OomKill {} => Ok(Box::new(oom_kill::attach(targets)?)),
        ProbeSpec::SyscallCount {} => Ok(Box::new(syscall_count::SyscallCount::attach(targets)?)),
        ProbeSpec::RunqLatency { per_pod } => Ok(Box::new(runq_latency::RunqLatency::attach(
            *per_pod, targets,
        )?)),
        ProbeSpec::BlockLatency { per_pod } => Ok(Box::new(block_latency::BlockLatency::attach(
            *per_pod, targets,
        )?)),
        ProbeSpec::CpuTime {} => Ok(Box::new(cpu_time::CpuTime::attach(targets)?)),
        ProbeSpec::Profile {
            frequency_hz,
            user,
            kernel,
            off_cpu,
            min_block_ns,
        } => Ok(Box::new(profile::Profile::attach(
            &profile::Mode {
                frequency_hz: *frequency_hz,
                user: *user,
                kernel: *kernel,
                off_cpu: off_cpu.then_some(*min_block_ns),
            },
            targets,
        )?)),
        ProbeSpec::PacketDrop { filter } => {
            Ok(Box::new(packet_drop::PacketDrop::attach(filter, targets)?))
        }
        ProbeSpec::TcpConnect { filter } => Ok(Box::new(tcp_connect::attach(filter, targets)?)),
        ProbeSpec::TcpReset { filter } => Ok(Box::new(tcp_reset::attach(filter, targets)?)),
        ProbeSpec::TcpLife { filter } => Ok(Box::new(tcp_life::attach(filter, targets)?)),
        ProbeSpec::Uprobe { functions } => Ok(Box::new(uprobe::attach(functions, targets)?)),
        // The run loop takes the inventory itself; the spec keeps it alone.
        ProbeSpec::Programs {} => Err(Failure::new(
            ErrorCode::InvalidSpec,
            "the programs inventory runs alone, not with other probes",
            "ask for it in a spec of its own",
        )),
        ProbeSpec::Tracepoint {
            tracepoints,
            counts,
        } => Ok(Box::new(tracepoint::attach(tracepoints, counts, targets)?)),
        ProbeSpec::TcpRetransmit { filter } => Ok(Box::new(tcp_retransmit::TcpRetransmit::attach(
            filter, targets,
        )?)),
        ProbeSpec::Http {
            filter,
            capture_bytes,
            capture_headers,
            keep_query,
        } => {
            let spec = http::Spec {
                red: false,
                filter,
                capture_bytes: *capture_bytes,
                capture_headers,
                keep_query: *keep_query,
            };
            Ok(Box::new(http::attach(&spec, targets)?))
        }
        ProbeSpec::Dns {} => Ok(Box::new(dns::attach(targets)?)),
        ProbeSpec::HttpRed {
            filter,
            capture_bytes,
        } => {
            let spec = http::Spec {
                red: true,
                filter,
                capture_bytes: *capture_bytes,
                capture_headers: &[],
                keep_query: false,
            };
            Ok(Box::new(http::attach(&spec, targets)?))
        }
    }
}

/// The kernel's layout of an event probe's filter (the spec's is checked already).
fn kernel_filter(filter: &EventFilter) -> KernelFilter {
    let mut kernel = KernelFilter::NONE;
    kernel.min_latency_ns = filter.min_latency_ns;
    kernel.port = filter.port;
    kernel.failed_only = u8::from(filter.failed);
    kernel.signal = filter.signal;
    let prefix = filter.path_prefix.as_bytes();
    let len = prefix.len().min(kernel.prefix.len());
    kernel.prefix[..len].copy_from_slice(&prefix[..len]);
    kernel.prefix_len = len as u8;
    kernel
}

/// Shrinks the event ring of a probe that sends no events to one page, the least a ring
/// can be: every probe object declares the shared ring, and the kernel creates it at its
/// full size otherwise (a megabyte, a fifth of a millisecond of the time to attach).
fn without_events(loader: &mut EbpfLoader<'_>) {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    loader.map_max_entries("EVENTS", u32::try_from(page).unwrap_or(4096));
}

/// Loads a probe object whose globals `loader` has set, and fills its target filter.
fn load(
    mut loader: EbpfLoader<'_>,
    object: &[u8],
    probe: &str,
    targets: &ResolvedTargets,
) -> Result<Ebpf, Failure> {
    let mut ebpf = loader
        .load(object)
        .map_err(|err| Failure::from_kernel(&format!("loading the {probe} probe"), &err))?;
    filter::fill(&mut ebpf, targets)?;
    Ok(ebpf)
}

fn missing_program(program: &str) -> Failure {
    Failure::new(
        ErrorCode::Internal,
        format!("the probe object has no program {program}"),
        "the tracer binary is inconsistent; rebuild it",
    )
}

/// Loads `program` from the object and attaches it to tracepoint `category:name`.
fn attach_tracepoint(
    ebpf: &mut Ebpf,
    program: &str,
    category: &str,
    name: &str,
) -> Result<(), Failure> {
    let what = format!("attaching {program} to tracepoint {category}:{name}");
    let program: &mut TracePoint = ebpf
        .program_mut(program)
        .ok_or_else(|| missing_program(program))?
        .try_into()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    program
        .load()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    program
        .attach(category, name)
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    Ok(())
}

/// Loads `program` from the object and attaches it to a raw tracepoint.
fn attach_raw_tracepoint(ebpf: &mut Ebpf, program: &str, tracepoint: &str) -> Result<(), Failure> {
    let what = format!("attaching {program} to raw tracepoint {tracepoint}");
    let program: &mut RawTracePoint = ebpf
        .program_mut(program)
        .ok_or_else(|| missing_program(program))?
        .try_into()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    program
        .load()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    program
        .attach(tracepoint)
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    Ok(())
}
