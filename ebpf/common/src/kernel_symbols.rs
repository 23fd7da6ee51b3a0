//! Naming kernel addresses in the kernel: a program, run on demand (never attached),
//! formats each address of a batch with `%ps`, the kernel's own lookup of the function
//! that holds it.

/// Addresses named per run of the program.
pub const BATCH: u32 = 128;

/// Bytes of each name, the terminating NUL included; longer names are cut.
pub const NAME_LEN: usize = 128;

/// One formatted name: NUL-terminated text.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Name {
    pub text: [u8; NAME_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain bytes; every bit pattern is valid.
unsafe impl aya::Pod for Name {}
