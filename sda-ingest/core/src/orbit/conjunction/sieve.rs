//! The spatial sieve: at each sample, a uniform grid of positions gives the pairs close enough
//! to be worth a look; the straight-line bound, the shell filter, the sampled minimum and the
//! interpolated minimum then pick the ones to refine.

use std::ops::Range;

use super::plan::ScreeningPlan;
use super::refine::refine_inside;
use super::{Screening, hermite, merge};
use crate::orbit::catalog::{EARTH_RADIUS_KM, MU_KM3_S2};
use crate::orbit::frames::sub;
use crate::orbit::propagate::{PropagateError, Propagator};

/// The largest acceleration SGP4 can give an object, km/s²: gravity at the Earth's surface
/// with a few per cent for the oblateness and the model's other terms. Over a time `τ` an
/// object's speed changes by at most this times `τ`.
const ACCEL_BOUND_KM_S2: f64 = 1.03 * MU_KM3_S2 / (EARTH_RADIUS_KM * EARTH_RADIUS_KM);

/// Allowance for SGP4's velocity output differing from the derivative of its position
/// output, km/s.
const SPEED_MARGIN_KM_S: f64 = 0.05;

/// Speed that sizes the grid cells, km/s: above circular speed at the Earth's surface
/// (7.9 km/s), so every near-circular orbit fits; faster objects (eccentric orbits near
/// perigee) search a wider neighbourhood instead of widening every cell.
const CELL_SPEED_KM_S: f64 = 8.0;

/// Object states at one sample.
#[derive(Default)]
struct States {
    position: Vec<[f64; 3]>,
    velocity: Vec<[f64; 3]>,
    speed: Vec<f64>,
    ok: Vec<bool>,
}

impl States {
    /// Propagates every object to `t`, recording each object's first failure.
    fn fill(&mut self, objects: &[Propagator], t: f64, failures: &mut [Option<PropagateError>]) {
        let n = objects.len();
        self.position.resize(n, [0.0; 3]);
        self.velocity.resize(n, [0.0; 3]);
        self.speed.resize(n, 0.0);
        self.ok.resize(n, false);
        for (i, p) in objects.iter().enumerate() {
            match p.state_at(t) {
                Ok(s) => {
                    self.position[i] = s.position_km;
                    self.velocity[i] = s.velocity_km_s;
                    let v = s.velocity_km_s;
                    self.speed[i] = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                    // A state with a non-finite component could not be gated or binned.
                    self.ok[i] = s.position_km.iter().chain(&v).all(|x| x.is_finite());
                }
                Err(e) => {
                    self.ok[i] = false;
                    failures[i].get_or_insert(e);
                }
            }
        }
    }
}

/// A pair to refine: object indices and the sample of its sampled minimum.
struct Candidate {
    i: u32,
    j: u32,
    m: usize,
}

/// The three samples around sample `m` and what is fixed for the whole screening.
struct Step<'a> {
    m: usize,
    times: [f64; 3],
    prev: Option<&'a States>,
    cur: &'a States,
    next: Option<&'a States>,
    threshold_km: f64,
    shells: &'a [(f64, f64)],
    shell_margin_km: f64,
    hermite_pad_km: f64,
}

impl Step<'_> {
    /// The first filter after the grid, on data the grid holds in its own order: whether the
    /// straight line of the relative motion through this sample (relative position `p` and
    /// velocity `v`), less the largest bend the relative acceleration can give it over the
    /// two steps around the sample, comes within the threshold. It is a lower bound on the
    /// separation over the whole bracket a refinement would search, so it drops nothing the
    /// later filters would keep, and it drops nearly every pair the grid hands over.
    fn near_line(&self, p: [f64; 3], v: [f64; 3], d2: f64, reach_sum: f64) -> bool {
        let (before, after) = (self.times[1] - self.times[0], self.times[2] - self.times[1]);
        let farthest = d2.sqrt() + 2.0 * reach_sum;
        hermite::line_lower_bound(p, v, before, after, farthest) < self.threshold_km
    }

    /// The filters after the straight line, for a pair at squared distance `d2` at this
    /// sample: the shell filter, the sampled minimum and the interpolated minimum.
    fn consider(&self, i: usize, j: usize, d2: f64, out: &mut Vec<Candidate>) {
        let ((pi, ai), (pj, aj)) = (self.shells[i], self.shells[j]);
        if pi.max(pj) - ai.min(aj) > self.shell_margin_km {
            return;
        }
        let dist2 = |s: &States| {
            let d = sub(s.position[i], s.position[j]);
            d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        };
        // The same rule as the all-pairs reference: strictly falling into the sample and not
        // rising out of it, the window's ends counting as falling and not rising.
        let falling = self.prev.is_none_or(|s| d2 < dist2(s));
        let not_rising = self.next.is_none_or(|s| d2 <= dist2(s));
        if !(falling && not_rising) {
            return;
        }
        let relative = |s: &States| {
            (
                sub(s.position[j], s.position[i]),
                sub(s.velocity[j], s.velocity[i]),
            )
        };
        let (p, v) = relative(self.cur);
        let mut closest = f64::INFINITY;
        if let Some(prev) = self.prev {
            let (p0, v0) = relative(prev);
            let dt = self.times[1] - self.times[0];
            closest = closest.min(hermite::min_distance(dt, p0, v0, p, v));
        }
        if let Some(next) = self.next {
            let (p1, v1) = relative(next);
            let dt = self.times[2] - self.times[1];
            closest = closest.min(hermite::min_distance(dt, p, v, p1, v1));
        }
        if self.prev.is_none() && self.next.is_none() {
            closest = d2.sqrt();
        }
        if closest < self.threshold_km + self.hermite_pad_km {
            out.push(Candidate {
                i: i as u32,
                j: j as u32,
                m: self.m,
            });
        }
    }
}

/// Grid cell coordinates packed into one key: 21 bits each, offset to be non-negative.
fn pack(c: [i64; 3]) -> u64 {
    const OFFSET: i64 = 1 << 20;
    let f = |x: i64| (x.clamp(-OFFSET + 1, OFFSET - 1) + OFFSET) as u64;
    (f(c[0]) << 42) | (f(c[1]) << 21) | f(c[2])
}

fn cell_of(p: [f64; 3], cell_km: f64) -> [i64; 3] {
    // A non-finite position never reaches the grid (`States::ok`); `as` saturates anyway.
    [
        (p[0] / cell_km).floor() as i64,
        (p[1] / cell_km).floor() as i64,
        (p[2] / cell_km).floor() as i64,
    ]
}

/// The neighbour columns (x, y offsets) that come after (0, 0) in lexicographic order; with
/// the cell above in the same column, visiting these (three cells each, z − 1 to z + 1) from
/// every cell visits each pair of the 26-neighbourhood once.
const FORWARD_COLUMNS: [[i64; 2]; 4] = [[0, 1], [1, -1], [1, 0], [1, 1]];

/// The grid of one sample, its buffers kept from sample to sample.
#[derive(Default)]
struct Grid {
    /// (cell key, object) of the objects in the grid, sorted by key.
    entries: Vec<(u64, u32)>,
    /// Positions, velocities and reaches in `entries` order, for cache-friendly pair loops.
    position: Vec<[f64; 3]>,
    velocity: Vec<[f64; 3]>,
    reach: Vec<f64>,
    /// Occupied cells in key order: key, coordinates and their range in `entries`.
    runs: Vec<(u64, [i64; 3], Range<usize>)>,
    /// Objects too fast for the cell size, with their reach.
    fast: Vec<(u32, f64)>,
}

/// Runs the sieve over `samples` of `plan` and refines what it finds.
pub(super) fn screen_chunk(
    plan: &ScreeningPlan,
    samples: Range<usize>,
    objects: &[Propagator],
) -> Screening {
    let cfg = plan.config();
    let n = objects.len();
    let last = plan.samples() - 1;
    let mut failures: Vec<Option<PropagateError>> = vec![None; n];
    let shells: Vec<(f64, f64)> = objects.iter().map(Propagator::radius_bounds_km).collect();
    let half = plan.step_s() / 2.0;
    let speed_pad = ACCEL_BOUND_KM_S2 * half + SPEED_MARGIN_KM_S;
    let cell_reach = (CELL_SPEED_KM_S + speed_pad) * half;
    let cell_km = cfg.threshold_km + 2.0 * cell_reach;
    let hermite_pad_km = hermite::error_bound_km(plan.step_s());

    let mut candidates = Vec::new();
    if n >= 2 && !samples.is_empty() {
        let mut buffers: [States; 3] = Default::default();
        let (mut prev, mut cur, mut next) = (0usize, 1usize, 2usize);
        let first = samples.start;
        if first > 0 {
            buffers[prev].fill(objects, plan.time(first - 1), &mut failures);
        }
        buffers[cur].fill(objects, plan.time(first), &mut failures);
        if first < last {
            buffers[next].fill(objects, plan.time(first + 1), &mut failures);
        }
        let mut grid = Grid::default();
        let mut reach = vec![0.0; n];
        let mut active = vec![false; n];
        for m in samples {
            let (before, after) = ((m > 0).then_some(prev), (m < last).then_some(next));
            for i in 0..n {
                let neighbours = [before, Some(cur), after].map(|b| b.map(|b| &buffers[b]));
                active[i] = neighbours.iter().flatten().all(|s| s.ok[i]);
                let top = neighbours
                    .iter()
                    .flatten()
                    .map(|s| s.speed[i])
                    .fold(0.0, f64::max);
                reach[i] = (top + speed_pad) * half;
            }
            let step = Step {
                m,
                times: [
                    plan.time(m.saturating_sub(1)),
                    plan.time(m),
                    plan.time((m + 1).min(last)),
                ],
                prev: before.map(|b| &buffers[b]),
                cur: &buffers[cur],
                next: after.map(|b| &buffers[b]),
                threshold_km: cfg.threshold_km,
                shells: &shells,
                shell_margin_km: cfg.threshold_km + cfg.shell_pad_km,
                hermite_pad_km,
            };
            sieve_sample(
                &step,
                &mut grid,
                &active,
                &reach,
                cell_km,
                cell_reach,
                &mut candidates,
            );
            if m + 1 < plan.samples() {
                // Rotate the three buffers: the old `prev` is refilled as the new `next`.
                (prev, cur, next) = (cur, next, prev);
                if m + 2 <= last {
                    buffers[next].fill(objects, plan.time(m + 2), &mut failures);
                }
            }
        }
    }

    let mut found = Screening::default();
    for Candidate { i, j, m } in candidates {
        let (a, b) = (&objects[i as usize], &objects[j as usize]);
        let (lo, hi) = (plan.time(m.saturating_sub(1)), plan.time((m + 1).min(last)));
        match refine_inside(a, b, lo, hi) {
            Ok(Some(c)) if c.miss_distance_km < cfg.threshold_km => found.conjunctions.push(c),
            Ok(_) => {}
            Err(e) => found.failed.push(e),
        }
    }
    found.failed.extend(failures.into_iter().flatten());
    merge([found])
}

/// All pairs at one sample whose distance is within their gate, handed to
/// [`Step::consider`].
fn sieve_sample(
    step: &Step<'_>,
    grid: &mut Grid,
    active: &[bool],
    reach: &[f64],
    cell_km: f64,
    cell_reach: f64,
    out: &mut Vec<Candidate>,
) {
    let t = step.threshold_km;
    let pos = &step.cur.position;
    let vel = &step.cur.velocity;
    grid.entries.clear();
    grid.fast.clear();
    for i in 0..pos.len() {
        if !active[i] {
            continue;
        }
        if reach[i] > cell_reach {
            grid.fast.push((i as u32, reach[i]));
        } else {
            grid.entries
                .push((pack(cell_of(pos[i], cell_km)), i as u32));
        }
    }
    grid.entries.sort_unstable();
    grid.position.clear();
    grid.velocity.clear();
    grid.reach.clear();
    grid.runs.clear();
    let mut start = 0;
    for k in 0..grid.entries.len() {
        let (key, i) = grid.entries[k];
        grid.position.push(pos[i as usize]);
        grid.velocity.push(vel[i as usize]);
        grid.reach.push(reach[i as usize]);
        if k + 1 == grid.entries.len() || grid.entries[k + 1].0 != key {
            let cell = cell_of(pos[i as usize], cell_km);
            grid.runs.push((key, cell, start..k + 1));
            start = k + 1;
        }
    }

    // Pairs of ordinary objects: each cell with itself and its 13 forward neighbours.
    let check = |x: usize, y: usize, out: &mut Vec<Candidate>| {
        let p = sub(grid.position[y], grid.position[x]);
        let d2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
        let reach_sum = grid.reach[x] + grid.reach[y];
        let gate = t + reach_sum;
        if d2 < gate * gate {
            let v = sub(grid.velocity[y], grid.velocity[x]);
            if step.near_line(p, v, d2, reach_sum) {
                let (i, j) = (grid.entries[x].1 as usize, grid.entries[y].1 as usize);
                step.consider(i.min(j), i.max(j), d2, out);
            }
        }
    };
    // Cells are sorted by key, z varying fastest, so the three cells z - 1..z + 1 of a column
    // are adjacent in `runs`, and as the visiting cell advances so do its neighbours: one
    // cursor per neighbour column walks forward through `runs` (a merge join, no lookups).
    let runs = &grid.runs;
    let mut cursors = [0usize; FORWARD_COLUMNS.len()];
    for (r, (key, cell, run)) in runs.iter().enumerate() {
        for x in run.clone() {
            for y in x + 1..run.end {
                check(x, y, out);
            }
        }
        if let Some((above, _, other)) = runs.get(r + 1)
            && *above == pack([cell[0], cell[1], cell[2] + 1])
            && *above != *key
        {
            for x in run.clone() {
                for y in other.clone() {
                    check(x, y, out);
                }
            }
        }
        for (cursor, [dx, dy]) in cursors.iter_mut().zip(FORWARD_COLUMNS) {
            let column = [cell[0] + dx, cell[1] + dy];
            let (lo, hi) = (
                pack([column[0], column[1], cell[2] - 1]),
                pack([column[0], column[1], cell[2] + 1]),
            );
            while *cursor < runs.len() && runs[*cursor].0 < lo {
                *cursor += 1;
            }
            for (other_key, _, other) in &runs[*cursor..] {
                if *other_key > hi {
                    break;
                }
                for x in run.clone() {
                    for y in other.clone() {
                        check(x, y, out);
                    }
                }
            }
        }
    }

    // Fast objects: a neighbourhood wide enough for their reach against the grid, and every
    // pair among themselves (there are few).
    for (k, &(f, rf)) in grid.fast.iter().enumerate() {
        let f = f as usize;
        let pf = pos[f];
        let cell = cell_of(pf, cell_km);
        let span = ((t + rf + cell_reach) / cell_km).ceil() as i64;
        for dx in -span..=span {
            for dy in -span..=span {
                let (x, y) = (cell[0] + dx, cell[1] + dy);
                let (lo, hi) = (pack([x, y, cell[2] - span]), pack([x, y, cell[2] + span]));
                let first = runs.partition_point(|(key, _, _)| *key < lo);
                for (key, _, run) in &runs[first..] {
                    if *key > hi {
                        break;
                    }
                    for y in run.clone() {
                        let p = sub(grid.position[y], pf);
                        let d2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
                        let reach_sum = rf + grid.reach[y];
                        let gate = t + reach_sum;
                        if d2 < gate * gate
                            && step.near_line(p, sub(grid.velocity[y], vel[f]), d2, reach_sum)
                        {
                            let j = grid.entries[y].1 as usize;
                            step.consider(f.min(j), f.max(j), d2, out);
                        }
                    }
                }
            }
        }
        for &(g, rg) in &grid.fast[k + 1..] {
            let g = g as usize;
            let p = sub(pos[g], pf);
            let d2 = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
            let gate = t + rf + rg;
            if d2 < gate * gate && step.near_line(p, sub(vel[g], vel[f]), d2, rf + rg) {
                step.consider(f.min(g), f.max(g), d2, out);
            }
        }
    }
}
