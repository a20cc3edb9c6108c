//! `sda-ingest`: the SDA ingest service. Runs the pipeline on the built-in simulator; see
//! `--help` and the crate README.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use sda_ingest::app::{self, Signals};
use sda_ingest::audit_chain;
use sda_ingest::cli::{Cli, Command};
use sda_ingest::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: every record allocates on one runtime thread and
/// is freed on another (a sink, or the PropagatorPool), the pattern where glibc's malloc is
/// weakest; BENCHMARKS.md measures the difference (about a quarter of the CPU per record).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The runtime and the signal handlers come first, so that a stop at any later moment
    // (even while a large scenario is being generated) ends the run with a summary.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let signals = match runtime.block_on(async { Signals::listen() }) {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("error: cannot listen for signals: {e}");
            return ExitCode::from(1);
        }
    };
    let cli = Cli::parse();
    if let Some(Command::VerifyAudit { dir }) = &cli.command {
        return verify_audit(dir);
    }
    let file = match cli.file_config() {
        Ok(file) => file,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(cli.log_format(&file));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");
    let config = match cli.app_config(&file) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(app::run(config, signals.stopped())) {
        Ok(summary) => {
            match serde_json::to_string(&summary) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: cannot encode the summary: {e}"),
            }
            ExitCode::from(summary.exit_code())
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "start-up failed");
            let outcome =
                serde_json::json!({ "outcome": "startup_failed", "error": format!("{e:#}") });
            println!("{}", serde_json::json!({ "outcome": outcome }));
            ExitCode::from(1)
        }
    };
    runtime.block_on(signals.close());
    // Dropping the runtime waits for its blocking threads (a file write stuck on a dead disk
    // would wait forever): bound it, and say what was still running.
    let alive = alive_tasks_after_settling(&runtime);
    if alive > 0 {
        tracing::warn!(
            tasks = alive,
            "tasks still running at exit; waiting at most {EXIT_WAIT:?} before leaving them"
        );
    }
    runtime.shutdown_timeout(EXIT_WAIT);
    code
}

/// `sda-ingest verify-audit DIR`: one line per chained file on stdout; exit 0 when every file
/// is intact, 1 when one is not (the line says where), 2 when DIR is not a folder.
fn verify_audit(dir: &std::path::Path) -> ExitCode {
    if !dir.is_dir() {
        eprintln!("error: {} is not a folder", dir.display());
        return ExitCode::from(2);
    }
    let mut intact = true;
    for (path, result) in audit_chain::verify_dir(dir) {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        match result {
            Ok(verified) => println!(
                "{name}: intact: {} records in {} blocks, head {}",
                verified.records,
                verified.blocks,
                verified.state.head_hex()
            ),
            Err(error) => {
                intact = false;
                println!("{name}: {error}");
            }
        }
    }
    ExitCode::from(if intact { 0 } else { 1 })
}

/// Tasks still alive once the runtime has had a moment to release those that have ended: a
/// task whose `JoinHandle` has completed is taken off the runtime's list by its worker thread
/// just after, so a count taken at once can include a task that has already ended (the signal
/// listener, closed just before, was seen this way). Waits at most [`SETTLE`].
fn alive_tasks_after_settling(runtime: &tokio::runtime::Runtime) -> usize {
    let started = std::time::Instant::now();
    loop {
        let alive = runtime.metrics().num_alive_tasks();
        if alive == 0 || started.elapsed() >= SETTLE {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// How long the exit lets ended tasks be released before it counts those still running.
const SETTLE: Duration = Duration::from_millis(200);

/// The longest the process waits at exit for tasks and blocking threads still running.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Logs go to stderr (stdout carries only the summary). `RUST_LOG` overrides the default
/// filter: everything at `info` in JSON; in human form the orchestrator's per-operator
/// `spawn`/`clean_exit` events are left out, keeping its warnings and errors (restarts, panics).
fn init_tracing(format: LogFormat) {
    let default = match format {
        LogFormat::Json => "info",
        LogFormat::Human => "info,sda_orchestrator=warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Human => builder.init(),
    }
}
