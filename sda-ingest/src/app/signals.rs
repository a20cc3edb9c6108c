//! The process's signals, listened for from the moment the runtime exists.
//!
//! SIGTERM and SIGINT (Ctrl-C) ask for a clean stop: whatever phase the run is in (start-up,
//! running, draining), it ends with a summary. SIGXFSZ, which the kernel sends when a write
//! would pass the file-size limit (`ulimit -f`), is caught rather than left to kill the
//! process: the write then fails with `EFBIG`, and the sink reports what it could not write.

use tokio_util::sync::CancellationToken;

/// The stop request, set by SIGTERM or SIGINT.
#[derive(Debug, Clone)]
pub struct Signals {
    stop: CancellationToken,
}

impl Signals {
    /// Installs the handlers on the current runtime and starts listening.
    ///
    /// # Errors
    ///
    /// A handler cannot be installed.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime with I/O enabled.
    pub fn listen() -> std::io::Result<Signals> {
        let stop = CancellationToken::new();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut file_size = signal(SignalKind::from_raw(libc::SIGXFSZ))?;
            let token = stop.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = term.recv() => break,
                        _ = interrupt.recv() => break,
                        // The failed write reports it; nothing to do here but not die.
                        _ = file_size.recv() => continue,
                    }
                }
                token.cancel();
            });
        }
        #[cfg(not(unix))]
        {
            let token = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    token.cancel();
                }
            });
        }
        Ok(Signals { stop })
    }

    /// Completes once a stop was asked for.
    pub async fn stopped(self) {
        self.stop.cancelled().await;
    }
}
