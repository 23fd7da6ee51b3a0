//! A loop block device backed by a scratch file, for block I/O tests; detached and
//! removed when dropped. Set up with the loop driver's ioctls, so no tool is needed.

use std::{
    fs::{self, File, OpenOptions},
    os::fd::AsRawFd,
    path::{Path, PathBuf},
};

const LOOP_SET_FD: libc::Ioctl = 0x4C00;
const LOOP_CLR_FD: libc::Ioctl = 0x4C01;
const LOOP_CTL_GET_FREE: libc::Ioctl = 0x4C82;

pub struct LoopDevice {
    device: PathBuf,
    /// Held open so the device stays bound until dropped.
    handle: File,
    backing: PathBuf,
}

impl LoopDevice {
    /// A new loop device over a file of `bytes` zeros.
    pub fn create(bytes: u64) -> Self {
        let backing = std::env::temp_dir().join(format!(
            "kubectl-ebpf-test-{}-{}.img",
            std::process::id(),
            unique()
        ));
        let file = File::create(&backing)
            .and_then(|file| file.set_len(bytes).map(|()| file))
            .unwrap_or_else(|err| panic!("create {}: {err}", backing.display()));
        drop(file);
        let backing_file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&backing)
            .expect("open the backing file");
        let control = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/loop-control")
            .expect("open /dev/loop-control (tests run as root, with the loop driver)");
        // Another process may take the free device first: ask again.
        for _ in 0..20 {
            // SAFETY: an ioctl without arguments on the control device.
            let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
            assert!(
                number >= 0,
                "no free loop device: {}",
                std::io::Error::last_os_error()
            );
            let device = PathBuf::from(format!("/dev/loop{number}"));
            let Ok(handle) = OpenOptions::new().read(true).write(true).open(&device) else {
                continue;
            };
            // SAFETY: binds the open backing file to the device.
            let bound = unsafe {
                libc::ioctl(
                    handle.as_raw_fd(),
                    LOOP_SET_FD,
                    backing_file.as_raw_fd() as libc::c_ulong,
                )
            };
            if bound == 0 {
                return LoopDevice {
                    device,
                    handle,
                    backing,
                };
            }
        }
        panic!("could not bind a loop device")
    }

    pub fn path(&self) -> &Path {
        &self.device
    }

    /// `loop3` for `/dev/loop3`, as /sys and the probe name it.
    pub fn name(&self) -> String {
        self.device
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        // SAFETY: unbinds the device this value bound.
        unsafe { libc::ioctl(self.handle.as_raw_fd(), LOOP_CLR_FD, 0) };
        let _ = fs::remove_file(&self.backing);
    }
}

fn unique() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
