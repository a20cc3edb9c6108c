//! The operations console in a real browser: Debian's Chromium, headless, driven over the
//! WebDriver protocol by Debian's `chromedriver` (both from `apt-get install chromium
//! chromium-driver`; nothing is downloaded). It starts `sda-ingest`, loads `/`, waits until the
//! graph shows all 19 vertices and an edge label shows its event-time watermark's lag behind
//! the wall clock (the lag `/edges` reports), pauses `optical` through the page with the token, checks
//! within 2 s that the page shows it paused and that `/operators` agrees, and saves a
//! screenshot as `target/ci-artifacts/console.png`; then throttles `radar` with the page's
//! throttle form and lifts the limit again, checking each through `/operators`.
//!
//! Run it with `cargo test -p sda-ingest --features browser --test console_browser`.
#![cfg(all(unix, feature = "browser"))]

mod common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::service::Service;
use serde_json::{Value, json};

const TOKEN: &str = "console-test-token";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The most any one wait of this test may take.
const LIMIT: Duration = Duration::from_secs(30);

/// A WebDriver session on a `chromedriver` this test started.
struct Browser {
    http: reqwest::Client,
    driver: Child,
    base: String,
    session: Option<String>,
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a headless Chromium session with
    /// a fresh profile in `profile`.
    async fn start(profile: &Path) -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).is_file(),
                "{binary} is missing: apt-get install -y chromium chromium-driver"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        // In a process group of its own, with the Chromium it starts: dropping the browser
        // kills them all, also when a failed assertion unwinds past `close`.
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::builder().timeout(LIMIT).build().unwrap();
        let mut browser = Browser {
            http,
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
        };
        browser
            .wait("chromedriver to be ready", || async {
                browser
                    .http
                    .get(format!("{}/status", browser.base))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await;
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--window-size=1500,1150",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                },
            }},
        });
        let created = browser.call("POST", "/session", Some(capabilities)).await;
        browser.session = Some(created["sessionId"].as_str().unwrap().to_owned());
        browser
    }

    /// One WebDriver command; returns its `value`.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert!(status.is_success(), "{method} {path}: {status}: {answer}");
        answer["value"].clone()
    }

    fn session(&self) -> String {
        format!("/session/{}", self.session.as_deref().unwrap_or("none"))
    }

    async fn goto(&self, url: &str) {
        self.call(
            "POST",
            &format!("{}/url", self.session()),
            Some(json!({ "url": url })),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        let body = json!({ "script": script, "args": [] });
        self.call(
            "POST",
            &format!("{}/execute/sync", self.session()),
            Some(body),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let body = json!({ "using": "css selector", "value": css });
        let found = self
            .call("POST", &format!("{}/element", self.session()), Some(body))
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        let path = format!("{}/element/{element}/value", self.session());
        self.call("POST", &path, Some(json!({ "text": text })))
            .await;
    }

    /// Finds `css` and clicks it. The console redraws its tables on every snapshot, so the
    /// element found may be replaced before the click lands ("stale element reference"): it is
    /// then found again, a bounded number of times.
    async fn click(&self, css: &str) {
        for _ in 0..20 {
            let element = self.element(css).await;
            let url = format!("{}{}/element/{element}/click", self.base, self.session());
            let response = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            if status.is_success() {
                return;
            }
            assert_eq!(
                answer["value"]["error"], "stale element reference",
                "click {css}: {status}: {answer}"
            );
        }
        panic!("click {css}: the element went stale 20 times in a row");
    }

    async fn screenshot(&self, to: &Path) {
        let encoded = self
            .call("GET", &format!("{}/screenshot", self.session()), None)
            .await;
        let png = base64(encoded.as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, png).unwrap();
    }

    /// Polls `ready` every 50 ms until it holds, for at most [`LIMIT`].
    async fn wait<F, Fut>(&self, what: &str, mut ready: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + LIMIT;
        while !ready().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session (closing Chromium); dropping the browser then stops `chromedriver`.
    async fn close(mut self) {
        if let Some(session) = self.session.take() {
            let _ = self
                .http
                .delete(format!("{}/session/{session}", self.base))
                .send()
                .await;
        }
    }
}

impl Drop for Browser {
    /// Kills `chromedriver`'s process group: the driver and any Chromium it still runs.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64, as WebDriver sends screenshots.
fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let sextets: Vec<u8> = text.bytes().filter_map(value).collect();
    sextets
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, s)| n | u32::from(*s) << (18 - 6 * i));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(chunk.len().saturating_sub(1))
        })
        .collect()
}

/// The lag an edge label shows (`wm lag 2.9 y`), in seconds; `None` for any other label.
fn shown_lag(label: &str) -> Option<f64> {
    let (number, unit) = label.strip_prefix("wm lag ")?.split_once(' ')?;
    let unit = match unit {
        "s" => 1.0,
        "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "y" => 365.25 * 86_400.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * unit)
}

/// `GET url`, as JSON.
async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Where CI keeps what a run leaves for people to look at.
fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ci-artifacts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_graph_and_pauses_a_source_with_the_token() {
    let out = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut running = Service::new()
        .args(["--rate", "4", "--passes", "1000", "--log-format", "json"])
        .args(["--out", out.path().to_str().unwrap()])
        .env("SDA_CONTROL_TOKEN", TOKEN)
        .spawn();
    let event = running.wait_for_event("control plane listening (http)", LIMIT);
    let base = format!("http://{}", event["addr"].as_str().unwrap());

    let browser = Browser::start(profile.path()).await;
    browser.goto(&format!("{base}/")).await;
    browser
        .wait("the graph to show all 19 vertices", || async {
            browser
                .script("return document.querySelectorAll('#graph g.node').length")
                .await
                == 19
        })
        .await;
    // The live stream has coloured the graph: the sources run.
    browser
        .wait("a snapshot to colour the graph", || async {
            browser
                .script(
                    "return document.querySelector('#graph g.node[data-name=radar]')\
                     .getAttribute('data-state')",
                )
                .await
                == "running"
        })
        .await;

    // The sources advance event-time watermarks as they run: the edge labels show how far each
    // edge's watermark is behind the wall clock, as `/edges` reports it.
    let labels = "return [...document.querySelectorAll('#graph g.edge')].map(g => \
                  [g.getAttribute('data-edge'), (g.querySelector('tspan.wm') || {}).textContent])";
    let lagging = |labels: &Value| -> Vec<(String, f64)> {
        labels
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| Some((l[0].as_str()?.to_owned(), shown_lag(l[1].as_str()?)?)))
            .collect()
    };
    browser
        .wait("an edge label to show a watermark lag", || async {
            !lagging(&browser.script(labels).await).is_empty()
        })
        .await;
    let shown = lagging(&browser.script(labels).await);
    let edges = get_json(&format!("{base}/edges")).await;
    for (name, lag) in &shown {
        let edge = edges["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} is not in /edges: {edges}"));
        let reported = edge["watermark_lag_seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("the page shows a lag for {name}, /edges none: {edge}"));
        // One decimal of its unit, and up to a snapshot interval and a request apart.
        assert!(
            (lag - reported).abs() <= (0.06 * reported.abs()).max(3.0),
            "{name}: the page shows a lag of {lag} s, /edges {reported} s"
        );
    }

    browser.type_into("#token", TOKEN).await;
    let clicked = Instant::now();
    browser
        .click("button[data-action=pause][data-operator=optical]")
        .await;
    let shown = "return [document.querySelector('#graph g.node[data-name=optical]')\
                 .getAttribute('data-state'), document.querySelector(\
                 '#operators tr[data-name=optical] .state').textContent]";
    loop {
        if browser.script(shown).await == json!(["paused", "paused"]) {
            break;
        }
        assert!(
            clicked.elapsed() < Duration::from_secs(2),
            "the page did not show `optical` paused within 2 s: {}",
            browser.script(shown).await
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let operators: Value = serde_json::from_slice(
        &reqwest::get(format!("{base}/operators"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let optical = operators["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "optical")
        .unwrap()
        .clone();
    assert_eq!(optical["paused"], true, "{optical}");
    assert_eq!(optical["state"], "paused", "{optical}");
    // The page reports what it did, and the log shows the control action.
    let message = browser
        .script("return document.getElementById('message').textContent")
        .await;
    assert!(
        message.as_str().unwrap().contains("optical: pause done"),
        "{message}"
    );
    browser
        .wait("the log to show the pause", || async {
            browser
                .script("return document.getElementById('log').textContent")
                .await
                .as_str()
                .is_some_and(|log| log.contains("paused optical"))
        })
        .await;
    // A snapshot later the graph still shows it paused, and the screenshot shows that.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let screenshot = artifacts().join("console.png");
    browser.screenshot(&screenshot).await;

    // The throttle form of a selected source sets its limit, and its button lifts it.
    let radar_limit = || async {
        let operators: Value = serde_json::from_slice(
            &reqwest::get(format!("{base}/operators"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        operators["operators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "radar")
            .unwrap()["throttle"]
            .clone()
    };
    browser
        .script(
            "document.querySelector('#graph g.node[data-name=radar]')\
             .dispatchEvent(new MouseEvent('click', { bubbles: true })); return true",
        )
        .await;
    let form = "#details form.throttle";
    browser
        .type_into(
            &format!("{form} input[aria-label='items per second']"),
            "50",
        )
        .await;
    browser
        .type_into(&format!("{form} input[aria-label='burst']"), "100")
        .await;
    browser.click(&format!("{form} button[type=submit]")).await;
    browser
        .wait("/operators to show radar throttled", || async {
            radar_limit().await == json!({"per_second": 50, "burst": 100})
        })
        .await;
    browser
        .wait("the page to say it throttled radar", || async {
            browser
                .script("return document.getElementById('message').textContent")
                .await
                .as_str()
                .is_some_and(|m| m.contains("radar: throttle done"))
        })
        .await;
    browser.click(&format!("{form} button[type=button]")).await;
    browser
        .wait("/operators to show radar unthrottled", || async {
            radar_limit().await == Value::Null
        })
        .await;
    browser.close().await;

    let finished = running.terminate();
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    let audit = std::fs::read_to_string(out.path().join("control_audit.jsonl")).unwrap();
    assert!(audit.contains("\"actor\":\"console\""), "{audit}");
    for action in ["\"action\":\"throttle\"", "\"action\":\"unthrottle\""] {
        assert!(audit.contains(action), "{action} missing: {audit}");
    }
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
}
