//! `dfir-chain N`: runs the integers `0..N` through a 10-stage chain (a source, 8 pass-through
//! `map`s and a summing sink) written in dfir_rs, on 2 threads, each running its own instance
//! over half of the items (dfir runs one instance per thread; as in the timely peer, the halves
//! do not exchange). Prints `seconds sum` on one line; the time excludes process start-up.

use std::time::Instant;

use dfir_rs::dfir_syntax;

fn chain(start: u64, end: u64) -> u64 {
    let sum = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let total = sum.clone();
    let mut flow = dfir_syntax! {
        source_iter(start..end)
            -> map(|x| x) -> map(|x| x) -> map(|x| x) -> map(|x| x)
            -> map(|x| x) -> map(|x| x) -> map(|x| x) -> map(|x| x)
            -> for_each(|x: u64| total.set(total.get() + x));
    };
    flow.run_available_sync();
    sum.get()
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let half = n / 2;
    let sum = std::thread::scope(|scope| {
        let first = scope.spawn(move || chain(0, half));
        let second = scope.spawn(move || chain(half, n));
        first.join().unwrap_or(0) + second.join().unwrap_or(0)
    });
    println!("{} {sum}", started.elapsed().as_secs_f64());
}
