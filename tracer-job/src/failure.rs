//! Why the tracer stopped early, said so that a person knows what to do.

use std::{error::Error as StdError, io};

use tracer_protocol::{ErrorCode, Record};

/// Verifier logs can be long; a record must stay well under the line limit.
const MAX_MESSAGE_BYTES: usize = 4096;

#[derive(Debug)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    pub hint: String,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>, hint: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE_BYTES {
            let mut end = MAX_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        Failure {
            code,
            message,
            hint: hint.into(),
        }
    }

    /// Classifies an error from loading or attaching a probe by the OS error beneath it.
    pub fn from_kernel(what: &str, err: &(dyn StdError + 'static)) -> Self {
        let message = format!("{what}: {}", chain(err));
        match os_error(err) {
            Some(libc::EPERM | libc::EACCES) => Failure::new(
                ErrorCode::PermissionDenied,
                message,
                "run as root, or grant CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8)",
            ),
            Some(libc::ENOENT | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOSYS) => Failure::new(
                ErrorCode::KernelUnsupported,
                message,
                "this kernel lacks what the probe needs; Linux 5.8 or newer with BTF is supported",
            ),
            _ => Failure::new(
                ErrorCode::Internal,
                message,
                "please report this with the output of `uname -a`",
            ),
        }
    }

    pub fn record(&self) -> Record {
        Record::Error {
            code: self.code,
            message: self.message.clone(),
            hint: self.hint.clone(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.code.exit_code()
    }
}

/// The error and its sources, joined.
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        let next_text = next.to_string();
        if !text.contains(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        source = next.source();
    }
    text
}

/// The first OS error code in the chain.
fn os_error(err: &(dyn StdError + 'static)) -> Option<i32> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(code) = err
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("loading failed")]
    struct Wrapper(#[source] io::Error);

    #[test]
    fn permission_errors_say_what_to_grant() {
        let err = Wrapper(io::Error::from_raw_os_error(libc::EPERM));
        let failure = Failure::from_kernel("loading syscall-latency", &err);
        assert_eq!(failure.code, ErrorCode::PermissionDenied);
        assert!(
            failure
                .message
                .starts_with("loading syscall-latency: loading failed")
        );
        assert!(failure.hint.contains("CAP_BPF"));
        assert_eq!(failure.exit_code(), 3);
    }

    #[test]
    fn missing_kernel_features_are_named() {
        let err = Wrapper(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(
            Failure::from_kernel("attaching", &err).code,
            ErrorCode::KernelUnsupported
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let failure = Failure::new(ErrorCode::Internal, "é".repeat(MAX_MESSAGE_BYTES), "");
        assert!(failure.message.len() <= MAX_MESSAGE_BYTES + 3);
    }
}
