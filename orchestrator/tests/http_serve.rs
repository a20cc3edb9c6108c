#![cfg(feature = "http")]
//! The served control plane over real loopback sockets: a client that never finishes its
//! headers is cut off, connections beyond the limit are closed at once, and a shutdown with a
//! connection still open ends within the drain, naming how many connections it cut off.
//! Time is paused: tokio advances it whenever every task waits, so the timeouts fire at once
//! and deterministically.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{collect, pass_through, store};
use sda_orchestrator::http::{ControlPlane, ServeLimits, ServeReport, serve_with};
use sda_orchestrator::{BuiltGraph, OperatorGraph, RestartPolicy, SourceContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A built (not running) graph for the plane to describe.
fn graph() -> BuiltGraph {
    let mut graph = OperatorGraph::new();
    let s = graph.add_source(
        "ticks",
        RestartPolicy::default(),
        |ctx: SourceContext<u64>| async move {
            ctx.shutdown.cancelled().await;
            Ok(())
        },
    );
    let p = graph.add_operator("pass", RestartPolicy::default(), pass_through::<u64>());
    let k = graph.add_sink("collect", RestartPolicy::Never, collect(store()));
    graph.connect(&s, &p).connect(&p, &k);
    graph.build().unwrap()
}

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<ServeReport>>,
}

async fn start(limits: ServeLimits) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let plane = ControlPlane::for_graph(&graph());
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(serve_with(listener, plane, limits, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop, task }
}

/// Reads until the server closes the connection (failing after a minute of paused time, so a
/// server that never lets go fails the test instead of hanging it); returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let server =
        start(ServeLimits::default().with_header_read_timeout(Duration::from_secs(5))).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let answer = read_to_close(&mut slow).await;
    // hyper answers 408 (or just closes) once the header timeout passes.
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(6));
    // The server still answers everyone else.
    let mut good = TcpStream::connect(server.addr).await.unwrap();
    good.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut good).await.starts_with("HTTP/1.1 200"));
    server.stop.send(()).unwrap();
    let report = server.task.await.unwrap().unwrap();
    assert_eq!(report.cut_off, 0);
}

#[tokio::test(start_paused = true)]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let server = start(
        ServeLimits::default()
            .with_max_connections(2)
            .with_header_read_timeout(Duration::from_secs(60)),
    )
    .await;
    // Two idle connections take both slots.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // Let the server accept them before the third arrives.
    tokio::task::yield_now().await;
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(1), read_to_close(&mut third))
        .await
        .expect("the connection over the limit is closed at once");
    assert!(answer.is_empty(), "{answer}");
    server.stop.send(()).unwrap();
    let report = server.task.await.unwrap().unwrap();
    assert_eq!(report.refused, 1, "{report:?}");
    assert_eq!(report.accepted, 3, "{report:?}");
    drop(held);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_with_a_connection_open_ends_within_the_drain_and_names_it() {
    let drain = Duration::from_secs(2);
    let server = start(
        ServeLimits::default()
            .with_drain(drain)
            .with_header_read_timeout(Duration::from_secs(600)),
    )
    .await;
    let mut stuck = TcpStream::connect(server.addr).await.unwrap();
    stuck
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::task::yield_now().await;
    let stopped_at = tokio::time::Instant::now();
    server.stop.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(60), server.task)
        .await
        .expect("the server stops within the drain")
        .unwrap()
        .unwrap();
    let took = stopped_at.elapsed();
    assert!(took <= drain + Duration::from_millis(100), "{took:?}");
    assert_eq!(report.cut_off, 1, "{report:?}");
    // The client sees its connection closed.
    assert!(read_to_close(&mut stuck).await.is_empty());
}
