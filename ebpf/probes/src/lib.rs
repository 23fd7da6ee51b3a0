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

#[cfg(all(target_arch = "bpf", not(test)))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
