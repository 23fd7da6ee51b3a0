//! What every probe shares: the in-kernel target filter and the panic handler.
#![no_std]

pub mod events;
pub mod file;
pub mod filter;
pub mod rows;
pub mod skb;
pub mod sock;
pub mod task;
pub mod tcp;

/// Reads a global the loader rewrote; volatile so the compiler cannot fold the default.
#[inline(always)]
pub fn global<T: Copy>(value: &T) -> T {
    // SAFETY: `value` is a valid reference to a static.
    unsafe { core::ptr::read_volatile(value) }
}

/// A tracepoint field at `offset` (from tracefs). Where that is the offset the program
/// was compiled for, `COMPILED`, it is a direct load from the record, which the verifier
/// allows only at constant offsets; elsewhere a helper call reads it. The offset is a
/// read-only global, so the verifier knows which branch runs and drops the other.
#[inline(always)]
pub fn tracepoint_field<T: Copy, const COMPILED: usize>(
    ctx: &aya_ebpf::programs::TracePointContext,
    offset: u32,
) -> Option<T> {
    use aya_ebpf::EbpfContext as _;
    if offset as usize == COMPILED {
        // SAFETY: the record holds the field at this offset, tracefs said.
        Some(unsafe { core::ptr::read(ctx.as_ptr().cast::<u8>().add(COMPILED).cast::<T>()) })
    } else {
        // SAFETY: as above, through the helper.
        unsafe { ctx.read_at::<T>(offset as usize) }.ok()
    }
}

#[cfg(all(target_arch = "bpf", not(test)))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
