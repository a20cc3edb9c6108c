//! The control plane of the running binary, over real HTTP on an ephemeral loopback port:
//! `/metrics` parses as Prometheus text and carries every required metric with its labels
//! (and passes `promtool check metrics` where promtool is installed — always in CI), and a
//! source paused with the token stops sending while the rest runs on, then resumes, with nothing
//! lost or restarted.
#![cfg(unix)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::service::{Running, Service};
use serde_json::Value;

const TOKEN: &str = "t0ken-for-tests";
const LIMIT: Duration = Duration::from_secs(60);

/// The running binary and its control plane's base URL.
struct Live {
    running: Running,
    base: String,
    out: tempfile::TempDir,
    /// The start-up log event that names the topology's fingerprint.
    topology: Value,
}

impl Live {
    /// Starts the binary with the control plane on a free port and waits for its address.
    fn start() -> Live {
        let out = tempfile::tempdir().unwrap();
        let mut running = Service::new()
            .args(["--rate", "10", "--passes", "1000", "--log-format", "json"])
            .args(["--out", out.path().to_str().unwrap()])
            .env("SDA_CONTROL_TOKEN", TOKEN)
            .spawn();
        let topology = running.wait_for_event("topology", LIMIT);
        let event = running.wait_for_event("control plane listening (http)", LIMIT);
        assert_eq!(event["controls"], "enabled");
        let addr = event["addr"].as_str().unwrap().to_owned();
        Live {
            running,
            base: format!("http://{addr}"),
            out,
            topology,
        }
    }

    /// Sends SIGTERM and returns the exit code and the summary.
    fn stop(self) -> (Option<i32>, Value) {
        let finished = self.running.terminate();
        (finished.code(), finished.summary())
    }

    /// Sends SIGTERM and returns the exit code, the summary and the output folder.
    fn stop_keeping_output(self) -> (Option<i32>, Value, tempfile::TempDir) {
        let finished = self.running.terminate();
        (finished.code(), finished.summary(), self.out)
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_json(base: &str, path: &str) -> Value {
    let response = client().get(format!("{base}{path}")).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// `operator`'s entry in `GET /operators`.
async fn operator(base: &str, name: &str) -> Value {
    let all = get_json(base, "/operators").await;
    all["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no operator {name}"))
}

/// Polls `GET /operators` until `done` holds for `name`'s entry (or the limit).
async fn wait_for(base: &str, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + LIMIT;
    loop {
        let entry = operator(base, name).await;
        if done(&entry) {
            return entry;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting on {name}: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_valid_prometheus_text_with_every_required_series() {
    let service = Live::start();
    let base = service.base.clone();
    // Traffic first, so the request metrics have a series, and the pipeline has moved.
    get_json(&base, "/health").await;
    wait_for(&base, "normalize", |o| o["received"].as_u64() > Some(0)).await;
    let response = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();

    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let has = |name: &str, label: &str, value: &str| {
        scrape
            .samples
            .iter()
            .any(|s| s.metric == name && s.labels.get(label) == Some(value))
    };
    for (name, label, value) in [
        ("operator_restart_total", "operator", "normalize"),
        ("operator_uptime_seconds", "operator", "radar"),
        ("operator_received_total", "operator", "dedup"),
        ("operator_sent_total", "operator", "optical"),
        ("circuit_breaker_state", "breaker", "optical_archive"),
        ("retry_attempts_total", "operator", "optical"),
        ("edge_queue_depth", "edge", "normalize->validate"),
        ("edge_capacity", "edge", "dedup->audit"),
        (
            "edge_send_blocked_seconds_total",
            "edge",
            "radar->normalize",
        ),
        ("http_requests_total", "route", "/health"),
        ("http_request_duration_seconds_count", "route", "/health"),
        ("pool_busy_workers", "pool", "propagator"),
        ("ingest_records_total", "stage", "received"),
        ("kernel_dropped_total", "source", "radar"),
    ] {
        assert!(
            has(name, label, value),
            "no {name}{{{label}=\"{value}\"}} in:\n{text}"
        );
    }
    // Labels are names only: no addresses, no paths with values, no error text.
    assert!(
        !text.contains("127.0.0.1"),
        "an address leaked into a label"
    );
    // Every metric has its HELP text.
    for family in scrape.docs.keys() {
        assert!(!scrape.docs[family].is_empty(), "{family} has empty help");
    }

    match which_promtool() {
        Some(promtool) => {
            let mut check = Command::new(promtool)
                .args(["check", "metrics"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut check.stdin.take().unwrap(), text.as_bytes()).unwrap();
            let output = check.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "promtool check metrics:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // CI installs promtool (`.ci/run`); elsewhere the check runs where it is installed.
        None => assert!(std::env::var_os("CI").is_none(), "CI must have promtool"),
    }

    let (code, summary) = service.stop();
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["lost"], 0);
}

fn which_promtool() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| std::path::Path::new(dir).join("promtool"))
        .find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_source_stops_sending_while_the_rest_runs_then_resumes() {
    let service = Live::start();
    let base = service.base.clone();
    let http = client();
    let pause = format!("{base}/operators/laser_ranging/pause");
    wait_for(&base, "laser_ranging", |o| o["sent"].as_u64() > Some(0)).await;

    // No token, a wrong token: refused, and nothing changes.
    let response = http.post(&pause).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let response = http.post(&pause).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(operator(&base, "laser_ranging").await["paused"], false);

    let response = http.post(&pause).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["paused"], true);
    assert_eq!(get_json(&base, "/health").await["status"], "degraded");

    // Once the pause has taken hold (a batch in hand may still go out), the count is flat
    // while the other sources keep the pipeline busy.
    let at_pause = operator(&base, "laser_ranging").await;
    let normalize_then = operator(&base, "normalize").await["received"]
        .as_u64()
        .unwrap();
    wait_for(&base, "normalize", |o| {
        o["received"].as_u64().unwrap() >= normalize_then + 500
    })
    .await;
    let held = operator(&base, "laser_ranging").await;
    let normalize_mid = operator(&base, "normalize").await["received"]
        .as_u64()
        .unwrap();
    wait_for(&base, "normalize", |o| {
        o["received"].as_u64().unwrap() >= normalize_mid + 500
    })
    .await;
    let still = operator(&base, "laser_ranging").await;
    assert_eq!(still["sent"], held["sent"], "sent moved while paused");
    assert!(held["sent"].as_u64() <= Some(at_pause["sent"].as_u64().unwrap() + 64));
    assert_eq!(still["state"], "paused");
    assert_eq!(still["restarts"], 0);
    assert_eq!(still["dropped"], 0);

    let response = http
        .post(format!("{base}/operators/laser_ranging/resume"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let paused_at = still["sent"].as_u64().unwrap();
    let resumed = wait_for(&base, "laser_ranging", |o| {
        o["sent"].as_u64() > Some(paused_at)
    })
    .await;
    assert_eq!(resumed["state"], "running");
    assert_eq!(resumed["restarts"], 0);

    let (code, summary) = service.stop();
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(summary["lost"], 0, "{summary}");
    assert_eq!(summary["restarts"], 0, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_views_agree_with_the_files_and_the_metrics() {
    let service = Live::start();
    let started = service.topology.clone();
    let base = service.base.clone();
    let http = client();

    // One fingerprint everywhere: the start-up log (computed at compile time too), /topology
    // and topology_info.
    let topology = get_json(&base, "/topology").await;
    let fingerprint = topology["fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(fingerprint.len(), 64);
    assert_eq!(started["fingerprint"], fingerprint.as_str());
    assert_eq!(started["compiled"], true);
    assert_eq!(topology["vertices"].as_array().unwrap().len(), 19);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!("topology_info{{fingerprint=\"{fingerprint}\"}} 1")),
        "{metrics}"
    );

    // /edges and /dead-letters, once the scenario's invalid records have been dead-lettered.
    let edges = get_json(&base, "/edges").await;
    assert_eq!(edges["edges"].as_array().unwrap().len(), 19);
    let deadline = Instant::now() + LIMIT;
    let letters = loop {
        let letters = get_json(&base, "/dead-letters?limit=5").await;
        if !letters["items"].as_array().unwrap().is_empty() {
            break letters;
        }
        assert!(Instant::now() < deadline, "no dead letter shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let code = letters["items"][0]["reason_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let same = get_json(&base, &format!("/dead-letters?reason={code}&limit=1000")).await;
    assert!(
        same["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["reason_code"] == code.as_str())
    );
    let refused = http
        .get(format!("{base}/dead-letters?limit=100000"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    // Control actions, refused and accepted, reach control_audit.jsonl.
    let pause = format!("{base}/operators/optical/pause");
    assert_eq!(http.post(&pause).send().await.unwrap().status(), 401);
    let accepted = http
        .post(&pause)
        .bearer_auth(TOKEN)
        .header("X-Actor", "ops \"on call\"")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    assert_eq!(operator(&base, "optical").await["state"], "paused");
    let (code, summary, out) = service.stop_keeping_output();
    assert_eq!(code, Some(0), "{summary}");

    let audit = std::fs::read_to_string(out.path().join("control_audit.jsonl")).unwrap();
    let records: Vec<Value> = audit
        .lines()
        .filter(|l| !l.starts_with("{\"chain\":"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{audit}");
    assert_eq!(records[0]["outcome"], "unauthenticated");
    assert_eq!(records[1]["outcome"], "accepted");
    assert_eq!(records[1]["operator"], "optical");
    assert_eq!(records[1]["actor"], "ops\\x20\\x22on\\x20call\\x22");
    assert!(
        records[1]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    for file in ["audit.jsonl", "control_audit.jsonl"] {
        let path = out.path().join(file);
        sda_ingest::audit_chain::verify_file(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}
