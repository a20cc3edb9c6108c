//! The real network transports: malformed radar datagrams and ISL streams over loopback sockets
//! are counted and dead-lettered with a reason while the service keeps running, and a peer that
//! stalls does not hold up shutdown.
//!
//! Each test runs the whole app with `--radar-bind`/`--isl-connect` pointed at sockets the test
//! owns, waits on observable conditions (a connection accepted, lines in `dead_letter.jsonl`)
//! under a timeout, then stops the app and checks its summary.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sda_ingest::app::{self, AppConfig, ProgressStyle, Summary, TransportMode};
use sda_ingest::pipeline::sinks::files;
use sda_ingest_core::wire::isl::IslFrame;
use sda_ingest_core::wire::radar::{MAX_DATAGRAM_LEN, RadarRecord};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

/// A free UDP port on loopback (bound, read and released; the app binds it right after).
fn free_udp_addr() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

fn config(dir: &Path, radar: Option<SocketAddr>, isl: SocketAddr) -> AppConfig {
    AppConfig {
        out_dir: dir.to_owned(),
        rate: 400.0,
        passes: Some(1),
        progress: ProgressStyle::Off,
        drain_deadline: Duration::from_secs(5),
        transport: TransportMode::Loopback,
        radar_bind: radar,
        isl_connect: Some(isl),
        ..AppConfig::default()
    }
}

fn start(config: AppConfig) -> (JoinHandle<Summary>, oneshot::Sender<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        app::run(config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap()
    });
    (run, stop)
}

async fn finish(run: JoinHandle<Summary>, stop: oneshot::Sender<()>) -> Summary {
    stop.send(()).unwrap();
    let summary = timeout(LIMIT, run)
        .await
        .expect("the app must drain and stop")
        .unwrap();
    assert!(summary.outcome.is_clean(), "{:?}", summary.outcome);
    let c = summary.counters.clone();
    assert_eq!(c.lost, 0, "{c:?}");
    assert_eq!(c.received, c.delivered + c.dead_lettered + c.duplicates);
    for (source, s) in &c.sources {
        assert!(s.balances(), "{source}: {s:?}");
    }
    assert_eq!(c.frames, c.frames_decoded, "{c:?}");
    summary
}

fn dead_letters(dir: &Path, source: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(files::DEAD_LETTER)).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|l| l["source"] == source && l["stage"] == "normalize")
        .collect()
}

/// Waits (bounded) until `source` has at least `n` decode dead letters, and returns them.
async fn wait_for_dead_letters(dir: &Path, source: &str, n: usize) -> Vec<Value> {
    timeout(LIMIT, async {
        loop {
            let letters = dead_letters(dir, source);
            if letters.len() >= n {
                return letters;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{source}: fewer than {n} dead letters"))
}

fn codes(letters: &[Value]) -> Vec<String> {
    let mut codes: Vec<String> = letters
        .iter()
        .map(|l| l["reason_code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    codes
}

async fn accept(listener: &TcpListener) -> TcpStream {
    timeout(LIMIT, listener.accept())
        .await
        .expect("the isl source must connect")
        .unwrap()
        .0
}

fn radar_record() -> RadarRecord {
    RadarRecord {
        sensor_id: 1,
        sequence: 7,
        epoch_us: 1_704_067_200_000_000,
        object_id: Some(25_544),
        range_m: 812_000.0,
        az_rad: 1.5,
        el_rad: 0.25,
        range_rate_mps: Some(-1_500.0),
        snr_db: 18.5,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_radar_datagrams_are_dead_lettered_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let radar = free_udp_addr();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let isl = listener.local_addr().unwrap();
    let (run, stop) = start(config(dir.path(), Some(radar), isl));
    // The radar socket is bound before the sources start, so once the ISL source has
    // connected, datagrams sent to it are received.
    let _stalled = accept(&listener).await;

    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut random: Vec<u8> = (0..64).map(|_| rng.u8(..)).collect();
    random[0] = b'X';
    let valid = radar_record().encode();
    let oversized = vec![0x53_u8; MAX_DATAGRAM_LEN + 200];
    for datagram in [&random[..], &valid[..40], &oversized[..], &valid[..]] {
        sender.send_to(datagram, radar).await.unwrap();
    }
    let letters = wait_for_dead_letters(dir.path(), "radar", 3).await;
    let summary = finish(run, stop).await;

    let letters_after = dead_letters(dir.path(), "radar");
    assert_eq!(letters_after.len(), 3, "{letters_after:?}");
    assert_eq!(codes(&letters), ["bad_magic", "oversized", "truncated"]);
    let oversized_letter = letters
        .iter()
        .find(|l| l["reason_code"] == "oversized")
        .unwrap();
    // The datagram was seen longer than the maximum, not cut to a valid-looking 64 bytes.
    let raw_len = oversized_letter["raw"].as_str().unwrap().len() / 2;
    assert_eq!(raw_len, MAX_DATAGRAM_LEN + 1);
    // The valid datagram after them went through: the service kept running.
    let observations = std::fs::read_to_string(dir.path().join(files::OBSERVATIONS)).unwrap();
    assert!(
        observations.contains("\"radar-1/7\""),
        "the valid datagram was not delivered"
    );
    assert_eq!(summary.restarts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isl_frame_with_a_huge_length_drops_the_connection_and_the_source_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let isl = listener.local_addr().unwrap();
    let (run, stop) = start(config(dir.path(), None, isl));
    let heartbeat = IslFrame::Heartbeat { satellite_id: 3 }.encode();

    let mut first = accept(&listener).await;
    first.write_all(&heartbeat).await.unwrap();
    // A 4 GiB announced frame, followed by bytes that must never be buffered as its payload.
    first.write_all(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    first.write_all(&[0xab; 2048]).await.unwrap();
    // The source drops the connection: our read ends.
    let mut rest = Vec::new();
    let closed = timeout(LIMIT, first.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the source must drop the broken connection");

    // ... and reconnects, and reads a good stream again; the empty frame that ends it is a
    // second dead letter, written after the heartbeats before it were counted.
    let mut second = accept(&listener).await;
    second.write_all(&heartbeat).await.unwrap();
    second.write_all(&heartbeat).await.unwrap();
    second.write_all(&[0, 0, 0, 0]).await.unwrap();
    let letters = wait_for_dead_letters(dir.path(), "isl", 2).await;
    let summary = finish(run, stop).await;

    assert_eq!(codes(&letters), ["empty_frame", "frame_too_large"]);
    // What was buffered from the bad prefix on is dead-lettered whole, with its byte count:
    // nothing read is dropped uncounted, and nothing of the announced length was reserved.
    let too_large = letters
        .iter()
        .find(|l| l["reason_code"] == "frame_too_large")
        .unwrap();
    let raw = too_large["raw"].as_str().unwrap();
    assert!(raw.starts_with("ffffffff"), "{raw}");
    assert!(raw[8..].chars().all(|c| c == 'a' || c == 'b'), "{raw}");
    assert_eq!(too_large["bytes"].as_u64().unwrap() as usize, raw.len() / 2);
    assert!(raw.len() / 2 <= 4 + 2048, "{}", raw.len() / 2);
    assert_eq!(dead_letters(dir.path(), "isl").len(), 2);
    assert_eq!(summary.counters.heartbeats, 3, "{:?}", summary.counters);
    assert_eq!(summary.restarts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_isl_peer_does_not_hold_up_the_pipeline_or_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let isl = listener.local_addr().unwrap();
    let (run, stop) = start(config(dir.path(), None, isl));
    // The peer accepts and then sends nothing at all.
    let _stalled = accept(&listener).await;
    // The other sources keep going: the radar simulator's datagrams arrive and are delivered.
    timeout(LIMIT, async {
        loop {
            let text =
                std::fs::read_to_string(dir.path().join(files::OBSERVATIONS)).unwrap_or_default();
            if text.contains("\"sensor_kind\":\"radar\"") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("radar observations must be delivered while isl stalls");
    let summary = finish(run, stop).await;
    assert!(summary.counters.delivered > 0);
    assert!(
        summary.elapsed_s < LIMIT.as_secs_f64(),
        "{}",
        summary.elapsed_s
    );
}

#[test]
fn endpoints_and_transport_come_from_flags_over_the_config_file() {
    use clap::Parser as _;
    use sda_ingest::cli::Cli;
    use sda_ingest::config::FileConfig;

    let file: FileConfig = toml::from_str(
        "transport = \"inprocess\"\nradar_bind = \"127.0.0.1:5600\"\nisl_connect = \"127.0.0.1:5700\"\n",
    )
    .unwrap();
    let defaults = Cli::try_parse_from(["sda-ingest"]).unwrap();
    let config = defaults.app_config(&FileConfig::default()).unwrap();
    assert_eq!(config.transport, TransportMode::Loopback);
    assert_eq!((config.radar_bind, config.isl_connect), (None, None));

    let from_file = defaults.app_config(&file).unwrap();
    assert_eq!(from_file.transport, TransportMode::Inprocess);
    assert_eq!(
        from_file.radar_bind,
        Some("127.0.0.1:5600".parse().unwrap())
    );
    assert_eq!(
        from_file.isl_connect,
        Some("127.0.0.1:5700".parse().unwrap())
    );

    let flags = Cli::try_parse_from([
        "sda-ingest",
        "--transport",
        "loopback",
        "--radar-bind",
        "0.0.0.0:6600",
        "--isl-connect",
        "127.0.0.1:6700",
    ])
    .unwrap();
    let config = flags.app_config(&file).unwrap();
    assert_eq!(config.transport, TransportMode::Loopback);
    assert_eq!(config.radar_bind, Some("0.0.0.0:6600".parse().unwrap()));
    assert_eq!(config.isl_connect, Some("127.0.0.1:6700".parse().unwrap()));
    assert!(Cli::try_parse_from(["sda-ingest", "--isl-connect", "nowhere"]).is_err());
}
