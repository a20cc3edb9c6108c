//! The simulator's ISL peer: a TCP server streaming the scenario's ISL frames at a paced rate.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::pacing::{Pacing, TICK, due};

/// The simulator's ISL peer: a TCP server on `listener` that streams `messages` (length
/// prefixes included; `pacing.passes` times, once when unset) to whoever connects, at the paced
/// rate.
///
/// A reconnecting client resumes where the last connection stopped. After the last frame the
/// connection is held open, like a quiet link, until the client closes it.
///
/// # Errors
///
/// Accepting fails.
pub async fn simulate_isl_server(
    listener: TcpListener,
    messages: Arc<[Bytes]>,
    pacing: Pacing,
) -> std::io::Result<()> {
    let len = messages.len() as u64;
    let total = pacing.total(messages.len());
    let per_s = pacing.messages_per_s(1.0);
    let mut sent = 0_u64;
    loop {
        let (mut stream, peer) = listener.accept().await?;
        tracing::debug!(%peer, "isl simulator: client connected");
        let first = sent;
        let since = Instant::now();
        let mut out = Vec::new();
        let served: std::io::Result<()> = async {
            while sent < total {
                let until = due(first, since.elapsed(), per_s, total);
                out.clear();
                for n in sent..until {
                    if let Some(m) = messages.get((n % len) as usize) {
                        out.extend_from_slice(m);
                    }
                }
                stream.write_all(&out).await?;
                stream.flush().await?;
                sent = until;
                tokio::time::sleep(TICK).await;
            }
            // Hold the link open until the client goes away.
            let mut sink = [0_u8; 64];
            while stream.read(&mut sink).await? > 0 {}
            Ok(())
        }
        .await;
        if let Err(e) = served {
            tracing::debug!(%peer, error = %e, "isl simulator: client went away");
        }
    }
}
