//! Kernel addresses named by the kernel itself: a small eBPF program
//! (`ebpf/probes/src/bin/kernel_symbols.rs`), run on demand, formats each address with
//! `%ps`. A profile's few hundred kernel frames then cost microseconds each, where
//! reading /proc/kallsyms costs tens of milliseconds of CPU (it lists every symbol,
//! 121,867 on our machines) and megabytes to index, taken from the node while the
//! workload runs.

use std::os::fd::{AsFd, AsRawFd};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, MapData},
    programs::RawTracePoint,
};
use ebpf_common::kernel_symbols::{BATCH, Name};

use crate::{bpf_command, probes::events};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/kernel-symbols"));

const PROGRAM: &str = "kernel_symbol_names";

pub struct KernelNames {
    addresses: Array<MapData, u64>,
    names: Array<MapData, Name>,
    /// Holds the program.
    ebpf: Ebpf,
}

/// The `test` member of the kernel's `union bpf_attr`, the part BPF_PROG_TEST_RUN reads.
#[repr(C)]
#[derive(Default)]
struct TestRun {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _padding: u32,
}

impl KernelNames {
    /// Loads the program; `None` when this kernel will not run it (`%ps` in eBPF came
    /// with Linux 5.13), and kallsyms has to do.
    pub fn load() -> Option<Self> {
        let mut ebpf = EbpfLoader::new().load(OBJECT).ok()?;
        let program: &mut RawTracePoint = ebpf.program_mut(PROGRAM)?.try_into().ok()?;
        program.load().ok()?;
        let addresses = Array::try_from(ebpf.take_map("ADDRESSES")?).ok()?;
        let names = Array::try_from(ebpf.take_map("NAMES")?).ok()?;
        let loaded = KernelNames {
            addresses,
            names,
            ebpf,
        };
        // A kernel that loads the program but cannot run it is found out here.
        loaded.run(0).map(|()| loaded)
    }

    /// The function holding each of `addrs` as `%ps` prints it (`name`, or `name
    /// [module]`), `None` where nothing does; `None` overall when the kernel would not
    /// run the program.
    pub fn name(&mut self, addrs: &[u64]) -> Option<Vec<Option<String>>> {
        let mut names = Vec::with_capacity(addrs.len());
        for batch in addrs.chunks(BATCH as usize) {
            for (index, addr) in (0..).zip(batch) {
                self.addresses.set(index, addr, 0).ok()?;
            }
            self.run(batch.len() as u64)?;
            for index in (0..).take(batch.len()) {
                let name = self.names.get(&index, 0).ok()?;
                names.push(printed_name(&name.text));
            }
        }
        Some(names)
    }

    /// Runs the program once over the first `count` addresses.
    fn run(&self, count: u64) -> Option<()> {
        let program: &RawTracePoint = self.ebpf.program(PROGRAM)?.try_into().ok()?;
        let fd = program.fd().ok()?.as_fd().as_raw_fd();
        let args = [count];
        let mut attr = TestRun {
            prog_fd: u32::try_from(fd).ok()?,
            ctx_size_in: std::mem::size_of_val(&args) as u32,
            ctx_in: args.as_ptr() as u64,
            ..TestRun::default()
        };
        // SAFETY: the attr is the command's part of bpf_attr, zeroed past what is set,
        // and `args` outlives the call.
        unsafe { bpf_command::run(bpf_command::PROG_TEST_RUN, &mut attr) }.then_some(())
    }
}

/// The text `%ps` printed; `None` for an address printed back in hex, which nothing
/// holds.
fn printed_name(bytes: &[u8]) -> Option<String> {
    let text = events::text(bytes);
    (!text.is_empty() && !text.starts_with("0x")).then_some(text)
}

/// The function of a printed name, without its ` [module]`.
pub fn without_module(name: &str) -> &str {
    name.split_once(" [")
        .map_or(name, |(function, _module)| function)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_up_to_their_end() {
        assert_eq!(
            printed_name(b"vfs_read\0garbage"),
            Some("vfs_read".to_owned())
        );
        assert_eq!(
            printed_name(b"nft_do_chain [nf_tables]\0"),
            Some("nft_do_chain [nf_tables]".to_owned())
        );
        assert_eq!(printed_name(b"0xffffffff81000000\0"), None);
        assert_eq!(printed_name(b"\0"), None);
    }

    #[test]
    fn the_module_can_be_left_out() {
        assert_eq!(without_module("nft_do_chain [nf_tables]"), "nft_do_chain");
        assert_eq!(without_module("vfs_read"), "vfs_read");
    }
}
