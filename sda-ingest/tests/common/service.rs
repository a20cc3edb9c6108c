//! The one launcher of the `sda-ingest` binary for the integration tests: start it, read its
//! stderr as it runs, stop it (SIGTERM or SIGKILL), and read the JSON summary from the last
//! line of stdout. Every wait is bounded, and a test that runs out of time kills the process
//! and says what it was waiting for.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any one run of the binary may take in a test before it is killed.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(120);

/// A command line for the binary, with the test defaults: a free control-plane port (tests run
/// side by side) and no `RUST_LOG` from the environment.
pub(crate) struct Service {
    command: Command,
    /// A file-size limit to run under, in 512-byte blocks.
    file_size_blocks: Option<u64>,
}

impl Service {
    /// The binary with the test defaults.
    pub(crate) fn new() -> Service {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sda-ingest"));
        command
            .args(["--control-addr", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Service {
            command,
            file_size_blocks: None,
        }
    }

    /// Adds arguments.
    pub(crate) fn args<I, S>(mut self, args: I) -> Service
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Runs the binary under a file-size limit of `blocks` × 512 bytes (`ulimit -f`), so that
    /// a write past it fails with `EFBIG`.
    pub(crate) fn file_size_limit(mut self, blocks: u64) -> Service {
        self.file_size_blocks = Some(blocks);
        self
    }

    /// The command to start: the binary itself, or a shell that sets the limit and then
    /// becomes the binary.
    fn into_command(self) -> Command {
        let Some(blocks) = self.file_size_blocks else {
            return self.command;
        };
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -f {blocks} && exec \"$0\" \"$@\""))
            .arg(self.command.get_program())
            .args(self.command.get_args())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in self.command.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command
    }

    /// Sets an environment variable.
    pub(crate) fn env(mut self, key: &str, value: &str) -> Service {
        self.command.env(key, value);
        self
    }

    /// Starts the binary.
    pub(crate) fn spawn(self) -> Running {
        let mut child = self.into_command().spawn().expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (out_tx, out_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            let _ = out_tx.send(text);
        });
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            // Keeps reading after the receiver is gone, so the child never blocks on a full pipe.
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let _ = err_tx.send(line);
            }
        });
        Running {
            child,
            stdout: out_rx,
            stderr: err_rx,
            seen: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Runs the binary to its end (bounded by [`RUN_LIMIT`]).
    pub(crate) fn run(self) -> Finished {
        self.spawn().wait()
    }
}

/// A running binary.
pub(crate) struct Running {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    seen: Vec<String>,
    started: Instant,
}

impl Running {
    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `limit`) for a stderr line that `pred` accepts and returns it.
    ///
    /// # Panics
    ///
    /// When the limit passes or the process closes stderr first; the process is killed and the
    /// lines seen so far are shown.
    pub(crate) fn wait_for_line(
        &mut self,
        what: &str,
        limit: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no stderr line {what} within {limit:?}; stderr so far:\n{}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Waits for the JSON log event whose `message` is `message` and returns it.
    pub(crate) fn wait_for_event(&mut self, message: &str, limit: Duration) -> Value {
        let line = self.wait_for_line(&format!("with message {message:?}"), limit, |line| {
            serde_json::from_str::<Value>(line).is_ok_and(|e| e["message"] == message)
        });
        serde_json::from_str(&line).expect("a JSON event")
    }

    /// Sends `signal` (`TERM`, `KILL`, …) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Sends SIGTERM and waits for the process to end.
    pub(crate) fn terminate(self) -> Finished {
        self.signal("TERM");
        self.wait()
    }

    /// Waits for the process to end by itself (bounded by [`RUN_LIMIT`] from its start).
    ///
    /// # Panics
    ///
    /// When it is still running at the limit: it is killed and its stderr shown.
    pub(crate) fn wait(mut self) -> Finished {
        let deadline = self.started + RUN_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let rest: Vec<String> = self.stderr.try_iter().collect();
                panic!(
                    "the binary ran past {RUN_LIMIT:?}; stderr:\n{}\n{}",
                    self.seen.join("\n"),
                    rest.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self
            .stdout
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        // The stderr reader ends when the pipe closes, which it does once the process is gone.
        let mut stderr = std::mem::take(&mut self.seen);
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(10)) {
            stderr.push(line);
        }
        Finished {
            status,
            stdout,
            stderr: stderr.join("\n"),
        }
    }
}

/// A test that fails (or forgets to wait) while its binary runs does not leave the binary
/// running after it, holding its ports, its output folder and the harness's pipes: the handle
/// kills it when dropped. After [`Running::wait`] or [`Running::terminate`] it has ended, and
/// this does nothing.
impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A binary that has ended.
pub(crate) struct Finished {
    /// How it ended.
    pub(crate) status: ExitStatus,
    /// Everything it printed on stdout.
    pub(crate) stdout: String,
    /// Everything it printed on stderr, one line per line.
    pub(crate) stderr: String,
}

impl Finished {
    /// The exit code (`None` when a signal ended it).
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The JSON summary: the last line of stdout.
    ///
    /// # Panics
    ///
    /// When there is none, showing stderr.
    pub(crate) fn summary(&self) -> Value {
        let last = self.stdout.lines().last().unwrap_or_else(|| {
            panic!("no summary on stdout; stderr:\n{}", self.stderr);
        });
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("{e}: {last}\nstderr:\n{}", self.stderr))
    }
}
