//! Catalog-scale screening, measured in one run: parse time, the propagation floor, the full
//! screening on two worker threads, the every-pair extrapolation and peak memory.
//!
//! ```text
//! cargo bench -p sda-ingest-core --bench catalog_scale            # 25,000 objects, 24 h
//! SDA_BENCH_QUICK=1 cargo bench -p sda-ingest-core --bench catalog_scale   # 5,000 objects, 6 h
//! ```
//!
//! Two threads pull chunks of the window from a shared counter, standing in for the two
//! workers of the service's propagator pool.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use sda_ingest_core::orbit::catalog::Catalog;
use sda_ingest_core::orbit::conjunction::{
    AllPairs, Screening, ScreeningChunk, ScreeningConfig, ScreeningPlan, merge,
};
use sda_ingest_core::orbit::elements::load;
use sda_ingest_core::orbit::propagate::Propagator;

const EPOCH: f64 = 1_704_067_200.0;
const WORKERS: usize = 2;
const CHUNKS: usize = 16;

struct Setup {
    objects: usize,
    hours: f64,
    sample_objects: usize,
}

fn setup() -> Setup {
    if std::env::var_os("SDA_BENCH_QUICK").is_some() {
        Setup {
            objects: 5_000,
            hours: 6.0,
            sample_objects: 300,
        }
    } else {
        Setup {
            objects: 25_000,
            hours: 24.0,
            sample_objects: 600,
        }
    }
}

fn status(field: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .map(|l| l[field.len()..].trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// CPU time of the whole process so far, user plus system, seconds (`/proc` counts in the
/// kernel's fixed 100 Hz user ticks). On a busy machine it is steadier than wall time: the
/// workers' own CPU, divided by their number, is what an idle two-core machine would take.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14th and 15th.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
            Some((ticks(11)? + ticks(12)?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Runs `job` on every chunk with `WORKERS` threads taking the next chunk as they free up.
fn on_workers<T: Send>(
    chunks: &[ScreeningChunk],
    job: impl Fn(&ScreeningChunk) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(chunks.len()));
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let out = job(chunk);
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(out);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = setup();
    let (n, hours) = (setup.objects, setup.hours);
    println!("catalog_scale: {n} objects, {hours} h window, {WORKERS} worker threads");
    println!("load average at start: {}", load_average());

    let text = Catalog::realistic(2_024, n, 40_001, EPOCH)?.to_tle_text();
    let started = Instant::now();
    let catalog = load(&text)?;
    let parse_s = started.elapsed().as_secs_f64();
    if catalog.objects.len() != n || !catalog.rejects.is_empty() {
        return Err(format!(
            "{} objects loaded, {} rejected",
            catalog.objects.len(),
            catalog.rejects.len()
        )
        .into());
    }
    println!(
        "parse:       {n} three-line element sets ({:.1} MB), checked and SGP4-initialised, in {:.3} s",
        text.len() as f64 / 1e6,
        parse_s
    );
    let objects: Vec<Propagator> = catalog.propagators();
    drop(catalog);

    let (start, end) = (EPOCH, EPOCH + hours * 3_600.0);
    let cfg = ScreeningConfig::default();

    // What an apogee/perigee filter alone (the first of Hoots' filters) leaves to pairwise
    // work: pairs whose padded radius ranges overlap, counted by sorting the ranges.
    let margin = cfg.threshold_km + cfg.shell_pad_km;
    let mut bands: Vec<(f64, f64)> = objects
        .iter()
        .map(|p| {
            let (perigee, apogee) = p.radius_bounds_km();
            (perigee - margin, apogee)
        })
        .collect();
    bands.sort_by(|a, b| a.0.total_cmp(&b.0));
    let overlapping: usize = (0..n)
        .map(|i| bands[i + 1..].partition_point(|b| b.0 <= bands[i].1))
        .sum();
    let all_pairs = n * (n - 1) / 2;
    println!(
        "shell filter alone: {overlapping} of {all_pairs} pairs left ({:.0} %)",
        100.0 * overlapping as f64 / all_pairs as f64
    );
    let plan = ScreeningPlan::new(start, end, &cfg);
    let chunks = plan.split(CHUNKS);

    // The floor: every object at every sample, once, with the same two workers.
    let (started, cpu) = (Instant::now(), cpu_s());
    let sink = on_workers(&chunks, |chunk| {
        let mut acc = 0.0;
        for k in chunk.samples() {
            let t = plan.time(k);
            for p in &objects {
                if let Ok(s) = p.state_at(t) {
                    acc += s.position_km[0];
                }
            }
        }
        acc
    });
    std::hint::black_box(sink);
    let (floor_s, floor_cpu) = (started.elapsed().as_secs_f64(), cpu_s() - cpu);
    let calls = n * plan.samples();
    println!(
        "propagation floor: {n} objects x {} samples = {calls} SGP4 calls in {floor_s:.1} s, {floor_cpu:.1} s CPU ({:.0} ns CPU per call)",
        plan.samples(),
        floor_cpu * 1e9 / calls as f64
    );

    let (started, cpu) = (Instant::now(), cpu_s());
    let found: Screening = merge(on_workers(&chunks, |chunk| chunk.screen(&objects)));
    let (screen_s, screen_cpu) = (started.elapsed().as_secs_f64(), cpu_s() - cpu);
    println!(
        "screening:   {} close approaches under {} km, {} objects failed, in {screen_s:.1} s, {screen_cpu:.1} s CPU \
         ({:.1} x the floor's CPU; {:.1} s on {WORKERS} idle cores)",
        found.conjunctions.len(),
        cfg.threshold_km,
        found.failed.len(),
        screen_cpu / floor_cpu,
        screen_cpu / WORKERS as f64
    );
    println!("peak memory after screening (VmHWM): {}", status("VmHWM:"));

    // Every pair on a sample of the catalog, then scaled: propagation by objects, pair scans
    // and refinements by pairs.
    let m = setup.sample_objects.min(n);
    let sample: Vec<Propagator> = objects.iter().step_by(n / m).take(m).cloned().collect();
    let started = Instant::now();
    let all = AllPairs::new(&sample, start, end, &cfg);
    let table_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let sampled = all.screen_rows(0..m);
    let pairs_s = started.elapsed().as_secs_f64();
    let scale_pairs = (n as f64 * (n as f64 - 1.0)) / (m as f64 * (m as f64 - 1.0));
    let brute_s = (table_s * n as f64 / m as f64 + pairs_s * scale_pairs) / WORKERS as f64;
    println!(
        "every pair:  {m}-object sample in {:.1} s ({table_s:.1} s table, {pairs_s:.1} s pairs, {} approaches); \
         extrapolated to {n} objects on {WORKERS} workers: {brute_s:.0} s ({:.1} h), {:.0} x the screening, table {:.0} MB",
        table_s + pairs_s,
        sampled.conjunctions.len(),
        brute_s / 3_600.0,
        brute_s / screen_s,
        (n * plan.samples() * 24) as f64 / 1e6
    );
    drop(all);
    println!("peak memory at the end (VmHWM): {}", status("VmHWM:"));
    println!("load average at end: {}", load_average());
    Ok(())
}
