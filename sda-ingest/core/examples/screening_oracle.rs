//! Writes a realistic population and this crate's screening of it, for the independent check
//! with Vallado's SGP4 in `oracle/check_screening.py`.
//!
//! ```text
//! cargo run --release -p sda-ingest-core --example screening_oracle -- OUT_DIR [OBJECTS] [HOURS] [THRESHOLD_KM] [SEED]
//! ```
//!
//! Defaults: 2,000 objects, 24 hours, 5 km, seed 2024. `OUT_DIR/population.tle` holds the
//! catalog as three-line element sets; `OUT_DIR/screening.json` the window, the threshold,
//! every close approach found (screened on two threads, as the service's pool would) and the
//! NORAD numbers of objects SGP4 failed on.

use std::error::Error;
use std::path::PathBuf;

use sda_ingest_core::orbit::catalog::Catalog;
use sda_ingest_core::orbit::conjunction::{ScreeningConfig, ScreeningPlan, merge};
use sda_ingest_core::orbit::elements::load;
use sda_ingest_core::orbit::propagate::PropagateError;

const EPOCH: f64 = 1_704_067_200.0;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(
        args.first()
            .ok_or("usage: screening_oracle OUT_DIR [OBJECTS] [HOURS] [THRESHOLD_KM] [SEED]")?,
    );
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_owned());
    let objects: usize = arg(1, "2000").parse()?;
    let hours: f64 = arg(2, "24").parse()?;
    let threshold_km: f64 = arg(3, "5").parse()?;
    let seed: u64 = arg(4, "2024").parse()?;

    let text = Catalog::realistic(seed, objects, 40_001, EPOCH)?.to_tle_text();
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("population.tle"), &text)?;
    // Screen what a reader of the file gets, through the same loader the service uses.
    let propagators = load(&text)?.propagators();

    let (start, end) = (EPOCH, EPOCH + hours * 3_600.0);
    let cfg = ScreeningConfig {
        threshold_km,
        ..ScreeningConfig::default()
    };
    let chunks = ScreeningPlan::new(start, end, &cfg).split(2);
    let started = std::time::Instant::now();
    let found = merge(std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| s.spawn(|| chunk.screen(&propagators)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect::<Vec<_>>()
    }));
    let failed: Vec<u32> = found
        .failed
        .iter()
        .filter_map(|e| match e {
            PropagateError::Elements { norad_id, .. }
            | PropagateError::Diverged { norad_id, .. } => Some(*norad_id),
            PropagateError::Catalog(_) => None,
        })
        .collect();
    let report = serde_json::json!({
        "start_unix_s": start,
        "end_unix_s": end,
        "threshold_km": threshold_km,
        "step_s": cfg.step_s,
        "objects": propagators.len(),
        "seed": seed,
        "conjunctions": found.conjunctions,
        "failed": failed,
    });
    std::fs::write(
        out.join("screening.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!(
        "{} objects, {hours} h, {threshold_km} km: {} close approaches in {:.1} s -> {}",
        propagators.len(),
        found.conjunctions.len(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}
