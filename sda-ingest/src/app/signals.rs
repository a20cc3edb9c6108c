//! The process's signals, listened for from the moment the runtime exists.
//!
//! SIGTERM and SIGINT (Ctrl-C) ask for a clean stop: whatever phase the run is in (start-up,
//! running, draining), it ends with a summary. SIGXFSZ, which the kernel sends when a write
//! would pass the file-size limit (`ulimit -f`), is caught rather than left to kill the
//! process: the write then fails with `EFBIG`, and the sink reports what it could not write.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The stop request, set by SIGTERM or SIGINT.
#[derive(Debug)]
pub struct Signals {
    stop: CancellationToken,
    /// Ends the listener ([`close`](Signals::close)).
    quit: CancellationToken,
    listener: JoinHandle<()>,
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
        let quit = CancellationToken::new();
        #[cfg(unix)]
        let listener = {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate())?;
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut file_size = signal(SignalKind::from_raw(libc::SIGXFSZ))?;
            let (token, quit) = (stop.clone(), quit.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = term.recv() => break,
                        _ = interrupt.recv() => break,
                        // The failed write reports it; nothing to do here but not die.
                        _ = file_size.recv() => continue,
                        () = quit.cancelled() => return,
                    }
                }
                token.cancel();
            })
        };
        #[cfg(not(unix))]
        let listener = {
            let (token, quit) = (stop.clone(), quit.clone());
            tokio::spawn(async move {
                tokio::select! {
                    result = tokio::signal::ctrl_c() => if result.is_ok() { token.cancel() },
                    () = quit.cancelled() => {}
                }
            })
        };
        Ok(Signals {
            stop,
            quit,
            listener,
        })
    }

    /// Completes once a stop was asked for.
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// Stops listening and waits (at most a second) for the listener to end, so that at exit
    /// no task of the service's own is left running.
    pub async fn close(self) {
        self.quit.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), self.listener).await;
    }
}
