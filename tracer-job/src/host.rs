//! Facts about the machine the tracer runs on.

use std::{fs, path::Path};

/// The kernel release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|release| release.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

/// Whether the kernel describes its own types (needed by later, BTF-based probes).
pub fn has_btf() -> bool {
    Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// `(major, minor)` of a release string such as `6.18.44-generic`.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones to the cgroup.
/// Raising the limit can fail without CAP_SYS_RESOURCE, which only matters on old
/// kernels, so the result is a warning at most.
pub fn raise_memlock_if_needed(release: &str) -> Option<String> {
    if kernel_version(release).is_some_and(|version| version >= (5, 11)) {
        return None;
    }
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a plain syscall with a valid pointer.
    let result = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
    (result != 0).then(|| {
        format!(
            "could not raise RLIMIT_MEMLOCK ({}); loading may fail on this kernel",
            std::io::Error::last_os_error()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(kernel_version("5.4.0"), Some((5, 4)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn new_kernels_need_no_memlock() {
        assert_eq!(raise_memlock_if_needed("6.18.0"), None);
    }
}
