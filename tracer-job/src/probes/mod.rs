//! The built-in probes: each loads its own precompiled object, attaches, and turns its
//! maps into records.

mod filter;
mod maps;
pub mod syscall_latency;

use aya::{Ebpf, programs::RawTracePoint};
use tracer_protocol::{ErrorCode, ProbeSpec, Record};

use crate::{failure::Failure, targets::ResolvedTargets};

/// A loaded, attached probe. Dropping it detaches and unloads everything it created.
pub trait Probe {
    fn name(&self) -> &'static str;

    /// Appends cumulative snapshot records. With `complete`, every record is written;
    /// otherwise only those that changed since the last call.
    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure>;
}

pub fn attach(spec: &ProbeSpec, targets: &ResolvedTargets) -> Result<Box<dyn Probe>, Failure> {
    match spec {
        ProbeSpec::SyscallLatency {
            by_syscall,
            min_latency_ns,
        } => Ok(Box::new(syscall_latency::SyscallLatency::attach(
            *by_syscall,
            *min_latency_ns,
            targets,
        )?)),
    }
}

/// Loads `program` from the object and attaches it to a raw tracepoint.
fn attach_raw_tracepoint(ebpf: &mut Ebpf, program: &str, tracepoint: &str) -> Result<(), Failure> {
    let what = format!("attaching {program} to raw tracepoint {tracepoint}");
    let program: &mut RawTracePoint = ebpf
        .program_mut(program)
        .ok_or_else(|| {
            Failure::new(
                ErrorCode::Internal,
                format!("the probe object has no program {program}"),
                "the tracer binary is inconsistent; rebuild it",
            )
        })?
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
