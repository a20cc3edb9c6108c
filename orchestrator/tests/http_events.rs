#![cfg(feature = "http")]
//! `GET /events` over a real socket with a real HTTP client: supervisor events arrive in
//! order with their ids, a client that falls behind is told how many it missed,
//! `Last-Event-ID` resumes from the ring, and snapshots carry each edge's event-time watermark
//! as `GET /edges` does. Every test runs on loopback and is bounded in time.

use std::time::Duration;

use sda_orchestrator::http::{ControlPlane, serve};
use sda_orchestrator::time::EventTime;
use sda_orchestrator::{
    BuiltGraph, OperatorGraph, RestartPolicy, SinkContext, SourceContext, SupervisorPolicy,
};
use serde_json::Value;
use tokio::sync::oneshot;

/// The most any test may take.
const BOUND: Duration = Duration::from_secs(20);

/// `radar` -> `archive`, built and not run, with the given event buffers.
fn graph(recent: usize, live: usize) -> BuiltGraph {
    let mut graph = OperatorGraph::new().with_event_buffers(recent, live);
    let src = graph.add_source("radar", RestartPolicy::default(), |_ctx| async { Ok(()) });
    let out = graph.add_sink(
        "archive",
        RestartPolicy::Never,
        |_ctx: SinkContext<u8>| async { Ok(()) },
    );
    graph.connect(&src, &out);
    graph.build().unwrap()
}

/// Serves the control plane of `built` on a free loopback port; the sender stops it.
async fn start(built: &BuiltGraph) -> (String, oneshot::Sender<()>) {
    start_plane(ControlPlane::for_graph(built)).await
}

/// Serves `plane` on a free loopback port; the sender stops it.
async fn start_plane(plane: ControlPlane) -> (String, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    // Snapshots far apart, so that only the first one (sent at once) shows up.
    let plane = plane.with_snapshot_interval(Duration::from_secs(3600));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, plane, async move {
        let _ = stopped.await;
    }));
    (format!("http://{address}/events"), stop)
}

/// One Server-Sent Event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: Value,
}

/// Reads the events of one streaming response.
struct Reader {
    response: reqwest::Response,
    buffer: String,
}

impl Reader {
    async fn open(url: &str, last_event_id: Option<&str>) -> Reader {
        let mut request = reqwest::Client::new().get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Reader {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), None, String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().parse().unwrap());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                let data = serde_json::from_str(&data).unwrap();
                return Sse { event, id, data };
            }
            let chunk = self
                .response
                .chunk()
                .await
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next `supervisor` event's id and kind, skipping snapshots.
    async fn supervisor(&mut self) -> Result<(u64, String), u64> {
        loop {
            let sse = self.next().await;
            match sse.event.as_str() {
                "snapshot" => continue,
                "lagged" => return Err(sse.data["skipped"].as_u64().unwrap()),
                "supervisor" => {
                    let id = sse.id.expect("supervisor events carry their id");
                    assert_eq!(sse.data["id"], id);
                    return Ok((id, sse.data["event"].as_str().unwrap().to_owned()));
                }
                other => panic!("unexpected event {other}"),
            }
        }
    }
}

#[tokio::test]
async fn events_arrive_in_order_after_a_first_snapshot() {
    tokio::time::timeout(BOUND, async {
        let built = graph(64, 64);
        let (url, _stop) = start(&built).await;
        let mut reader = Reader::open(&url, None).await;
        let first = reader.next().await;
        assert_eq!(first.event, "snapshot");
        assert_eq!(first.id, None, "snapshots carry no id");
        assert_eq!(first.data["operators"][0]["name"], "radar");
        assert_eq!(first.data["operators"][0]["state"], "pending");
        assert_eq!(first.data["edges"][0]["from"], "radar");
        assert_eq!(first.data["edges"][0]["capacity"], 1024);

        let controls = built.controls();
        for _ in 0..3 {
            controls.pause("radar").unwrap();
            controls.resume("radar").unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(reader.supervisor().await.unwrap());
        }
        let expected: Vec<(u64, String)> = (1..=6)
            .map(|id| {
                (
                    id,
                    if id % 2 == 1 { "paused" } else { "resumed" }.to_owned(),
                )
            })
            .collect();
        assert_eq!(seen, expected);
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_client_that_falls_behind_is_told_how_many_events_it_missed() {
    tokio::time::timeout(BOUND, async {
        // The live channel holds 4 events.
        let built = graph(1000, 4);
        let (url, _stop) = start(&built).await;
        let mut reader = Reader::open(&url, None).await;
        assert_eq!(reader.next().await.event, "snapshot");

        // 50 events published without yielding: the server's stream cannot keep up (this test
        // runs on one thread), so the subscription overflows.
        let controls = built.controls();
        for _ in 0..25 {
            controls.pause("radar").unwrap();
            controls.resume("radar").unwrap();
        }
        assert_eq!(reader.supervisor().await, Err(46));
        let rest: Vec<u64> = [
            reader.supervisor().await,
            reader.supervisor().await,
            reader.supervisor().await,
            reader.supervisor().await,
        ]
        .into_iter()
        .map(|r| r.unwrap().0)
        .collect();
        assert_eq!(rest, [47, 48, 49, 50]);
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn last_event_id_resumes_from_the_ring() {
    tokio::time::timeout(BOUND, async {
        let built = graph(4, 64);
        let controls = built.controls();
        for _ in 0..3 {
            controls.pause("radar").unwrap();
            controls.resume("radar").unwrap();
        }
        let (url, _stop) = start(&built).await;

        // Events 4, 5 and 6 are held: resuming after 4 replays 5 and 6 before anything else.
        let mut resumed = Reader::open(&url, Some("4")).await;
        let first = resumed.next().await;
        assert_eq!((first.event.as_str(), first.id), ("supervisor", Some(5)));
        assert_eq!(resumed.supervisor().await, Ok((6, "resumed".to_owned())));
        controls.pause("radar").unwrap();
        assert_eq!(resumed.supervisor().await, Ok((7, "paused".to_owned())));

        // Resuming after 1: events 2 and 3 left the ring of 4 (which holds 4 to 7).
        let mut late = Reader::open(&url, Some("1")).await;
        assert_eq!(late.supervisor().await, Err(2));
        assert_eq!(late.supervisor().await, Ok((4, "resumed".to_owned())));

        // `after` does the same for clients that cannot set headers; the header wins.
        let mut replayed = Reader::open(&format!("{url}?after=5"), None).await;
        assert_eq!(replayed.supervisor().await, Ok((6, "resumed".to_owned())));
        let mut both = Reader::open(&format!("{url}?after=0"), Some("6")).await;
        assert_eq!(both.supervisor().await, Ok((7, "paused".to_owned())));

        // A Last-Event-ID that is not an id is refused.
        let refused = reqwest::Client::new()
            .get(&url)
            .header("Last-Event-ID", "yesterday")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400);
        let body: Value = serde_json::from_slice(&refused.bytes().await.unwrap()).unwrap();
        assert!(body["error"].as_str().unwrap().contains("Last-Event-ID"));
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn stopping_the_server_ends_the_streams() {
    tokio::time::timeout(BOUND, async {
        let built = graph(16, 16);
        let (url, stop) = start(&built).await;
        let mut reader = Reader::open(&url, None).await;
        assert_eq!(reader.next().await.event, "snapshot");
        stop.send(()).unwrap();
        // The stream ends well within the drain, instead of holding the server up.
        assert_eq!(reader.response.chunk().await.unwrap(), None);
    })
    .await
    .expect("bounded");
}

/// `radar` -> `archive`: `radar` sends three items, advancing its watermark to `watermark`
/// first when there is one; `archive` takes them.
fn timed_graph(watermark: Option<EventTime>) -> BuiltGraph {
    let mut graph = OperatorGraph::new();
    let src = graph.add_source(
        "radar",
        RestartPolicy::Never,
        move |mut ctx: SourceContext<u8>| async move {
            if let Some(watermark) = watermark {
                ctx.output.advance_watermark(watermark);
            }
            for n in 0..3 {
                ctx.output.send(n).await?;
            }
            Ok(())
        },
    );
    let out = graph.add_sink(
        "archive",
        RestartPolicy::Never,
        |mut ctx: SinkContext<u8>| async move {
            while ctx.input.recv().await.is_some() {}
            Ok(())
        },
    );
    graph.connect(&src, &out);
    graph.build().unwrap()
}

/// `GET url`, as JSON.
async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Runs `built` to the end, then returns its first snapshot's only edge and its only edge in
/// `GET /edges`, as the control plane serves them.
async fn edge_after_running(built: BuiltGraph) -> (Value, Value) {
    let plane = ControlPlane::for_graph(&built);
    assert!(built.run(SupervisorPolicy::default()).await.is_clean());
    let (url, _stop) = start_plane(plane).await;
    let mut reader = Reader::open(&url, None).await;
    let snapshot = reader.next().await;
    assert_eq!(snapshot.event, "snapshot");
    let edges = snapshot.data["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 1, "{edges:?}");
    let listed = get_json(&url.replace("/events", "/edges")).await;
    let listed = listed["edges"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1, "{listed:?}");
    (edges[0].clone(), listed[0].clone())
}

#[tokio::test]
async fn snapshots_and_edges_carry_the_watermark_a_source_advanced_and_its_lag() {
    tokio::time::timeout(BOUND, async {
        let stamped = EventTime::now().saturating_sub(Duration::from_secs(5));
        let (snapshot, listed) = edge_after_running(timed_graph(Some(stamped))).await;
        for (what, edge) in [("snapshot", &snapshot), ("/edges", &listed)] {
            assert_eq!(edge["name"], "radar->archive", "{what}: {edge}");
            assert_eq!(
                edge["watermark_unix_micros"].as_i64(),
                Some(stamped.as_unix_micros()),
                "{what}: {edge}"
            );
            // Five seconds behind when stamped, and behind by the test's run time more now.
            let lag = edge["watermark_lag_seconds"].as_f64().unwrap();
            assert!(
                (5.0..5.0 + BOUND.as_secs_f64()).contains(&lag),
                "{what}: lag {lag}"
            );
            assert_eq!(edge["idle"], false, "{what}: {edge}");
        }
        assert_eq!(snapshot["from"], "radar");
        assert_eq!(snapshot["to"], "archive");
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_graph_that_never_uses_time_has_no_watermark_anywhere() {
    tokio::time::timeout(BOUND, async {
        let (snapshot, listed) = edge_after_running(timed_graph(None)).await;
        for (what, edge) in [("snapshot", &snapshot), ("/edges", &listed)] {
            assert_eq!(edge["name"], "radar->archive", "{what}: {edge}");
            // The fields are there, and say that there is no watermark.
            assert_eq!(
                edge.get("watermark_unix_micros"),
                Some(&Value::Null),
                "{what}: {edge}"
            );
            assert_eq!(
                edge.get("watermark_lag_seconds"),
                Some(&Value::Null),
                "{what}: {edge}"
            );
            assert_eq!(edge["idle"], false, "{what}: {edge}");
        }
        // The items went through: the edge was used, just never with event time.
        assert_eq!(listed["sent"], 3);
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn the_openapi_document_describes_the_snapshots_watermark_fields() {
    tokio::time::timeout(BOUND, async {
        let built = graph(16, 16);
        let (url, _stop) = start(&built).await;
        let document = get_json(&url.replace("/events", "/openapi.json")).await;
        let schemas = &document["components"]["schemas"];
        for schema in ["EdgeRates", "EdgeSnapshot"] {
            let properties = schemas[schema]["properties"].as_object().unwrap();
            for field in ["watermark_unix_micros", "watermark_lag_seconds", "idle"] {
                assert!(properties.contains_key(field), "{schema} lacks {field}");
            }
            let required: Vec<&str> = schemas[schema]["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            // Always sent; `null` when there is no watermark.
            assert!(required.contains(&"idle"), "{schema}: {required:?}");
            let lag = serde_json::to_string(&properties["watermark_lag_seconds"]).unwrap();
            assert!(lag.contains("null"), "{schema}: the lag may be null: {lag}");
        }
    })
    .await
    .expect("bounded");
}
