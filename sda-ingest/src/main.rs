//! `sda-ingest`: the SDA ingest service. Runs the pipeline on the built-in simulator; see
//! `--help` and the crate README.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use sda_ingest::app;
use sda_ingest::cli::Cli;
use sda_ingest::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: every record allocates on one runtime thread and
/// is freed on another (a sink, or the PropagatorPool), the pattern where glibc's malloc is
/// weakest; BENCHMARKS.md measures the difference (about a quarter of the CPU per record).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let file = match cli.file_config() {
        Ok(file) => file,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    init_tracing(cli.log_format(&file));
    let config = match cli.app_config(&file) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
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
    match runtime.block_on(app::run(config, app::shutdown_signal())) {
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
    }
}

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
