//! Test peers for the transports: radar datagrams (valid and broken in each way), a UDP sender
//! (all at once, or paced in a thread), the kernel's view of a UDP socket, a free loopback
//! port, and a bare HTTP/1.1 request for the control plane.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sda_ingest_core::wire::radar::{MAX_DATAGRAM_LEN, RadarRecord};

/// A valid datagram of `radar-1` (sensor id 1, registered with a site), sequence `seq`.
pub(crate) fn radar(seq: u32) -> Vec<u8> {
    RadarRecord {
        sensor_id: 1,
        sequence: seq,
        epoch_us: 1_704_067_200_000_000 + i64::from(seq) * 1_000,
        object_id: Some(40_001),
        range_m: 900_000.0,
        az_rad: 1.0,
        el_rad: 0.5,
        range_rate_mps: Some(-1_000.0),
        snr_db: 20.0,
    }
    .encode()
    .to_vec()
}

/// Radar datagrams broken in each way a radar datagram can be, each with the reason code it
/// must be dead-lettered with: four decoding failures and one validation failure.
pub(crate) fn broken_radar() -> Vec<(Vec<u8>, &'static str)> {
    let mut bad_magic = radar(900_001);
    bad_magic[0] = b'X';
    let mut bad_checksum = radar(900_002);
    bad_checksum[30] ^= 0xff;
    let oversized = vec![0x42; MAX_DATAGRAM_LEN + 1];
    let truncated = radar(900_003)[..10].to_vec();
    let mut out_of_range = RadarRecord::decode(&radar(900_004)).unwrap();
    out_of_range.range_m = -5.0;
    vec![
        (bad_magic, "bad_magic"),
        (bad_checksum, "bad_checksum"),
        (oversized, "oversized"),
        (truncated, "truncated"),
        (out_of_range.encode().to_vec(), "range_out_of_bounds"),
    ]
}

/// A free UDP port on 127.0.0.1.
pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends every datagram to `to` from `from` (an address of the loopback network).
pub(crate) fn send_datagrams(from: &str, to: SocketAddr, datagrams: &[Vec<u8>]) {
    let socket = UdpSocket::bind(from).unwrap();
    for datagram in datagrams {
        socket.send_to(datagram, to).unwrap();
    }
}

/// A thread that sends valid radar datagrams (sequence 0, 1, 2, …) from loopback to one
/// address at a steady rate, each due at its scheduled time, until stopped or until it has
/// sent `limit`.
pub(crate) struct PacedRadar {
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl PacedRadar {
    /// Starts sending `per_second` datagrams to `to`, at most `limit` of them.
    pub(crate) fn start(to: SocketAddr, per_second: u64, limit: u64) -> PacedRadar {
        let (sent, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (count, stopped) = (sent.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let started = Instant::now();
            let mut next = 0_u64;
            while next < limit && !stopped.load(Ordering::Relaxed) {
                // Every datagram due by now (the schedule, not the last send, sets the pace).
                let due = (started.elapsed().as_secs_f64() * per_second as f64) as u64;
                while next < due.min(limit) {
                    let seq = u32::try_from(next).expect("fewer than 2^32 datagrams");
                    socket.send_to(&radar(seq), to).unwrap();
                    next += 1;
                    // Counted once the kernel has it: on loopback, queued or dropped by then.
                    count.store(next, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        PacedRadar { sent, stop, thread }
    }

    /// Datagrams sent so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Stops sending and returns how many datagrams were sent.
    pub(crate) fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the sender thread");
        self.sent.load(Ordering::SeqCst)
    }
}

/// The kernel's view of the UDP socket bound to `port` on loopback: datagram bytes queued for
/// reading, and datagrams dropped (`/proc/net/udp`).
pub(crate) fn udp_socket_state(port: u16) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) {
            return None;
        }
        let rx = fields.get(4)?.split(':').nth(1)?;
        Some((
            u64::from_str_radix(rx, 16).ok()?,
            fields.get(12)?.parse().ok()?,
        ))
    })
}

/// Sends one HTTP/1.1 request (with a bearer token when given) and returns the status code
/// and the body.
pub(crate) fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}
