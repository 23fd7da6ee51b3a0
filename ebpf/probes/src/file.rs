//! From a file descriptor of the current task to the socket behind it, through offsets
//! the tracer found in the kernel's BTF: `task->files->fdt->fd[fd]`, then the file's
//! inode mode (a socket's is `S_IFSOCK`) and `file->private_data` (its `struct socket`),
//! whose `sk` is the `struct sock`.
//!
//! Some of these offsets are 0 (`fdtable.max_fds` is its first member), so unlike
//! task.rs, 0 is not "unknown" here: the tracer refuses to load the probe without them.

use aya_ebpf::helpers::bpf_probe_read_kernel;

use crate::{global, task::current};

#[unsafe(no_mangle)]
static TASK_FILES_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static FILES_FDT_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static FDTABLE_MAX_FDS_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static FDTABLE_FD_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static FILE_INODE_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static FILE_PRIVATE_DATA_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static INODE_MODE_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCKET_TYPE_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SOCKET_SK_OFFSET: u32 = 0;

const S_IFMT: u16 = 0o170_000;
const S_IFSOCK: u16 = 0o140_000;

/// A `T` at `offset` bytes into the kernel object at `base`; `None` when the read fails.
// The pointer is never dereferenced here: the helper reads it and fails cleanly.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
#[inline(always)]
pub fn at<T>(base: *const u8, offset: u32) -> Option<T> {
    if base.is_null() {
        return None;
    }
    // SAFETY: read through the helper, which fails cleanly on a bad address.
    unsafe { bpf_probe_read_kernel(base.add(offset as usize) as *const T) }.ok()
}

/// A socket of the current task: its `struct sock` and its type (`SOCK_STREAM`, ...).
pub struct Socket {
    pub sock: *const u8,
    pub kind: u16,
}

/// The socket open at `fd` in the current task, or `None` when it is not a socket (or
/// the offsets are unknown).
#[inline(always)]
pub fn socket_of(fd: u32) -> Option<Socket> {
    let files: *const u8 = at(current(), global(&TASK_FILES_OFFSET))?;
    let fdt: *const u8 = at(files, global(&FILES_FDT_OFFSET))?;
    let max_fds: u32 = at(fdt, global(&FDTABLE_MAX_FDS_OFFSET))?;
    if fd >= max_fds {
        return None;
    }
    let fds: *const u8 = at(fdt, global(&FDTABLE_FD_OFFSET))?;
    let file: *const u8 = at(fds, fd.wrapping_mul(8))?;
    let inode: *const u8 = at(file, global(&FILE_INODE_OFFSET))?;
    let mode: u16 = at(inode, global(&INODE_MODE_OFFSET))?;
    if mode & S_IFMT != S_IFSOCK {
        return None;
    }
    let socket: *const u8 = at(file, global(&FILE_PRIVATE_DATA_OFFSET))?;
    let kind: u16 = at(socket, global(&SOCKET_TYPE_OFFSET))?;
    let sock: *const u8 = at(socket, global(&SOCKET_SK_OFFSET))?;
    if sock.is_null() {
        return None;
    }
    Some(Socket { sock, kind })
}
