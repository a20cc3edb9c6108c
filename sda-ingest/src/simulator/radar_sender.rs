//! The simulator's radar peer: a paced UDP sender of the scenario's radar datagrams.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::pacing::{Pacing, TICK, due};

/// Datagrams the simulator's UDP sender sends per tick at most (1,600/s): a burst the default
/// loopback receive buffer holds, so a loopback run does not drop datagrams.
const UDP_BURST: u64 = 32;

/// The simulator's radar peer: sends `messages` (`pacing.passes` times, once when unset) as
/// datagrams to `target` at the paced rate, at most `UDP_BURST` per tick.
///
/// # Errors
///
/// The local socket cannot be bound or a send fails.
pub async fn simulate_radar_sender(
    messages: Arc<[Bytes]>,
    pacing: Pacing,
    target: SocketAddr,
) -> std::io::Result<()> {
    let local: SocketAddr = if target.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    let len = messages.len() as u64;
    let total = pacing.total(messages.len());
    let per_s = pacing.messages_per_s(1.0);
    let (started, mut sent) = (Instant::now(), 0_u64);
    while sent < total {
        let until = due(0, started.elapsed(), per_s, total).min(sent + UDP_BURST);
        for n in sent..until {
            let bytes = messages.get((n % len) as usize).map_or(&[][..], |b| &b[..]);
            socket.send_to(bytes, target).await?;
        }
        sent = until;
        tokio::time::sleep(TICK).await;
    }
    Ok(())
}
