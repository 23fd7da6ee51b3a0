//! Ctrl-C (SIGINT) and SIGTERM, counted. Once something exists on the cluster or on the
//! node, dying at the default disposition would leave it running; from then on the
//! plugin listens for both and stops in order: the first asks the tracers to stop, the
//! second abandons them.

use std::sync::OnceLock;

use tokio::sync::watch;

static INTERRUPTS: OnceLock<watch::Receiver<u32>> = OnceLock::new();

/// Starts listening (once per process; call inside the runtime) and returns a receiver
/// of how many interrupts have arrived. A receiver made before an interrupt sees it as a
/// change, so one that comes between two phases is not missed.
pub fn listen() -> Interrupts {
    let receiver = INTERRUPTS.get_or_init(|| {
        let (sender, receiver) = watch::channel(0u32);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                let terminated = async {
                    match term.as_mut() {
                        Some(term) => term.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminated => {}
                }
                sender.send_modify(|count| *count += 1);
            }
        });
        receiver
    });
    Interrupts {
        receiver: receiver.clone(),
    }
}

/// One reader of the interrupt count.
#[derive(Clone)]
pub struct Interrupts {
    receiver: watch::Receiver<u32>,
}

impl Interrupts {
    /// Waits for the next interrupt this reader has not seen.
    pub async fn next(&mut self) {
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether an interrupt has come that this reader has not seen (and marks it seen).
    pub fn take(&mut self) -> bool {
        let unseen = self.receiver.has_changed().unwrap_or(false);
        if unseen {
            self.receiver.borrow_and_update();
        }
        unseen
    }
}
