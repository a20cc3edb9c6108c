//! The transports of a run: the radar socket, the ISL peer and the optical archive, with the
//! simulator's loopback peers started where no real endpoint is configured.

use std::net::SocketAddr;

use anyhow::Context as _;
use sda_ingest_core::SensorKind;
use sda_ingest_core::sim::scenario::Streams;

use super::{AppConfig, TransportMode};
use crate::simulator::{self, ArchiveSimulator, Pacing, SimStream};
use crate::transport::{
    IslTransport, OpticalPollerConfig, RadarSocket, RadarTransport, Transports,
};

/// Binds the radar socket and picks the ISL peer and the optical archive, starting the
/// simulator peers on loopback where no endpoint was given; returns the transports and the
/// peer tasks to stop at the end.
pub(super) async fn start_transports(
    config: &AppConfig,
    streams: &Streams,
    pacing: Pacing,
) -> anyhow::Result<(Transports, Vec<tokio::task::JoinHandle<()>>)> {
    let loopback = config.transport == TransportMode::Loopback;
    let local: SocketAddr = ([127, 0, 0, 1], 0).into();
    let (mut transports, mut peers) = (Transports::default(), Vec::new());
    let total = |messages: &[bytes::Bytes]| {
        pacing
            .passes
            .map(|passes| messages.len() as u64 * u64::from(passes))
    };
    if config.radar_bind.is_some() || loopback {
        let bind = config.radar_bind.unwrap_or(local);
        let socket = RadarSocket::bind(bind, config.radar_recv_buffer, config.radar_allow.clone())
            .with_context(|| format!("cannot bind the radar socket to {bind}"))?;
        let addr = socket.local_addr()?;
        let mut finish_after = None;
        if config.radar_bind.is_none() {
            let messages = SimStream::from_streams(streams, SensorKind::Radar).messages;
            finish_after = total(&messages);
            peers.push(tokio::spawn(async move {
                if let Err(e) = simulator::simulate_radar_sender(messages, pacing, addr).await {
                    tracing::warn!(error = %e, "radar simulator stopped");
                }
            }));
        }
        tracing::info!(
            %addr,
            simulated = config.radar_bind.is_none(),
            "radar listening (udp)"
        );
        transports.radar = Some(RadarTransport {
            socket,
            finish_after,
        });
    }
    if let Some(addr) = config.isl_connect {
        tracing::info!(%addr, "isl reading from peer (tcp)");
        transports.isl = Some(IslTransport {
            addr,
            finish_after: None,
            link: config.isl_link,
        });
    } else if loopback {
        let listener = tokio::net::TcpListener::bind(local)
            .await
            .context("cannot bind the isl simulator")?;
        let addr = listener.local_addr()?;
        let messages = SimStream::from_streams(streams, SensorKind::Isl).messages;
        let finish_after = total(&messages);
        peers.push(tokio::spawn(async move {
            if let Err(e) = simulator::simulate_isl_server(listener, messages, pacing).await {
                tracing::warn!(error = %e, "isl simulator stopped");
            }
        }));
        tracing::info!(%addr, "isl simulator serving (tcp)");
        transports.isl = Some(IslTransport {
            addr,
            finish_after,
            link: config.isl_link,
        });
    }
    if let Some(url) = &config.optical_url {
        tracing::info!(%url, "optical polling archive (http)");
        transports.optical = Some(OpticalPollerConfig::new(url.clone()));
    } else if loopback {
        let listener = tokio::net::TcpListener::bind(local)
            .await
            .context("cannot bind the optical archive simulator")?;
        let addr = listener.local_addr()?;
        let pages = SimStream::from_streams(streams, SensorKind::Optical).messages;
        let archive = ArchiveSimulator::new(pages, pacing);
        peers.push(tokio::spawn(async move {
            if let Err(e) = archive.serve(listener).await {
                tracing::warn!(error = %e, "optical archive simulator stopped");
            }
        }));
        let url = reqwest::Url::parse(&format!("http://{addr}/"))?;
        tracing::info!(%url, "optical archive simulator serving (http)");
        transports.optical = Some(OpticalPollerConfig::new(url));
    }
    Ok((transports, peers))
}
