//! What every probe shares: the in-kernel target filter and the panic handler.
#![no_std]

pub mod filter;

#[cfg(all(target_arch = "bpf", not(test)))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
