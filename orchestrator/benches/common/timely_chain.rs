//! The throughput benchmark's 10-stage `u64` chain written in timely dataflow: 2 workers, each
//! feeding its half of the items through an input in batches of 256, 8 pass-through stages
//! (`map_in_place`, which hands each batch on untouched, as the orchestrated relays do) and a
//! summing sink. Every stage is pipelined within its worker, which is how timely runs a chain
//! without an exchange: each worker thread runs the whole chain over its half.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

const BATCH: u64 = 256;

/// Runs `n` items through the chain (`relays` pass-through stages) and returns their sum.
pub(crate) fn run(n: u64, relays: usize) -> u64 {
    let sum = Arc::new(AtomicU64::new(0));
    let total = Arc::clone(&sum);
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        let (index, peers) = (worker.index() as u64, worker.peers() as u64);
        let mut input = InputHandle::<u64, _>::new();
        let probe = ProbeHandle::new();
        let sum = Arc::clone(&total);
        worker.dataflow(|scope| {
            let mut stream = scope.input_from(&mut input).container::<Vec<u64>>();
            for _ in 0..relays {
                stream = stream.map_in_place(|_| {});
            }
            stream
                .inspect_core(move |event| {
                    if let Ok((_, batch)) = event {
                        sum.fetch_add(batch.iter().sum::<u64>(), Ordering::Relaxed);
                    }
                })
                .probe_with(&probe);
        });
        let per = n / peers;
        let start = per * index;
        let end = if index + 1 == peers { n } else { start + per };
        let mut next = start;
        while next < end {
            let mut batch: Vec<u64> = (next..(next + BATCH).min(end)).collect();
            next += batch.len() as u64;
            input.send_batch(&mut batch);
            worker.step();
        }
        input.close();
        while !probe.done() {
            worker.step();
        }
    })
    .expect("timely starts its workers");
    drop(guards.join());
    sum.load(Ordering::Relaxed)
}
