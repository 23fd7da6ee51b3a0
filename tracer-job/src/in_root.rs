//! Opening a file as a process sees it. Joining `/proc/PID/root` and the path is not
//! enough: an absolute symlink inside the container would resolve against the tracer's
//! own root, the host's, so a container could point the tracer at any file of the node.
//! openat2 with RESOLVE_IN_ROOT resolves every component, symlinks and `..` included, as
//! if the process's root were `/`.

use std::{
    ffi::CString,
    fs::File,
    io,
    os::fd::{AsRawFd, FromRawFd},
    path::Path,
};

/// `struct open_how` of openat2(2), version 0 (libc's is not constructible).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Opens `path` (absolute, as the process sees it) for reading inside `root`.
pub fn open_in_root(root: &Path, path: &str) -> io::Result<File> {
    let root = File::open(root)?;
    let relative = CString::new(path.trim_start_matches('/'))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let how = OpenHow {
        flags: (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: valid pointers to a NUL-terminated path and an open_how of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            relative.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use std::{io::Read, os::unix::fs::symlink};

    use super::*;

    #[test]
    fn symlinks_and_dotdot_stay_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("in-root-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/app"), b"inside").unwrap();
        std::fs::write(dir.join("secret"), b"outside").unwrap();
        // Absolute and relative links that would leave the root if followed from the host.
        symlink(dir.join("secret"), root.join("abs")).unwrap();
        symlink("../../../secret", root.join("usr/bin/rel")).unwrap();
        symlink("/usr/bin/app", root.join("app")).unwrap();

        let mut text = String::new();
        open_in_root(&root, "/app")
            .expect("an absolute link resolves inside the root")
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "inside");
        for escape in ["/abs", "/usr/bin/rel", "/../secret"] {
            let opened = open_in_root(&root, escape);
            assert!(opened.is_err(), "{escape} reached a file outside the root");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
