//! The time grid of a screening and its split into independent chunks of samples.

use std::ops::Range;

use super::{Screening, ScreeningConfig, sieve};
use crate::orbit::propagate::Propagator;

/// A screening window cut into samples: `start`, `start + step`, ... and `end` last.
///
/// Cheap to copy and free of references, so its chunks can be moved into jobs for a thread
/// pool, each job screening the same objects over its own samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScreeningPlan {
    start: f64,
    end: f64,
    step_s: f64,
    samples: usize,
    config: ScreeningConfig,
}

impl ScreeningPlan {
    /// The plan for screening `[start, end]` (UTC Unix seconds) with `config`.
    ///
    /// A step that is not a positive number is replaced by the whole window, so a bad
    /// configuration costs accuracy rather than a panic or an endless grid.
    pub fn new(start: f64, end: f64, config: &ScreeningConfig) -> ScreeningPlan {
        let step_s = if config.step_s > 0.0 && config.step_s.is_finite() {
            config.step_s
        } else {
            (end - start).abs().max(1.0)
        };
        let steps = ((end - start) / step_s).ceil();
        let steps = if steps >= 1.0 { steps as usize } else { 1 };
        ScreeningPlan {
            start,
            end,
            step_s,
            samples: steps.saturating_add(1),
            config: *config,
        }
    }

    /// The screening parameters.
    pub fn config(&self) -> &ScreeningConfig {
        &self.config
    }

    /// The step between samples, seconds (the last one may be shorter).
    pub fn step_s(&self) -> f64 {
        self.step_s
    }

    /// Number of samples, both ends of the window included.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Time of sample `k`, UTC Unix seconds; the last sample is the end of the window.
    pub fn time(&self, k: usize) -> f64 {
        (self.start + k as f64 * self.step_s).min(self.end)
    }

    /// The whole window as one chunk.
    pub fn whole(&self) -> ScreeningChunk {
        ScreeningChunk {
            plan: *self,
            samples: 0..self.samples,
        }
    }

    /// Cuts the samples into `parts` contiguous chunks of nearly equal length (fewer when
    /// there are fewer samples than parts, at least one).
    ///
    /// A close approach belongs to the chunk holding the sample nearest to it, so the chunks
    /// never report the same approach twice and [`merge`](super::merge) of their results is
    /// the same as screening the whole window at once. Each chunk propagates its samples and
    /// one more at each side, so more chunks cost a little more propagation.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::orbit::conjunction::{ScreeningConfig, ScreeningPlan};
    ///
    /// let plan = ScreeningPlan::new(0.0, 86_400.0, &ScreeningConfig::default());
    /// assert_eq!(plan.samples(), 1_441);
    /// let chunks = plan.split(4);
    /// assert_eq!(chunks.len(), 4);
    /// assert_eq!(chunks[0].samples(), 0..360);
    /// assert_eq!(chunks[3].samples(), 1_080..1_441);
    /// ```
    pub fn split(&self, parts: usize) -> Vec<ScreeningChunk> {
        let parts = parts.clamp(1, self.samples);
        (0..parts)
            .map(|p| ScreeningChunk {
                plan: *self,
                samples: p * self.samples / parts..(p + 1) * self.samples / parts,
            })
            .collect()
    }
}

/// Some consecutive samples of a [`ScreeningPlan`], screened on their own.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreeningChunk {
    plan: ScreeningPlan,
    samples: Range<usize>,
}

impl ScreeningChunk {
    /// The plan the chunk belongs to.
    pub fn plan(&self) -> &ScreeningPlan {
        &self.plan
    }

    /// The sample indices whose close approaches this chunk reports.
    pub fn samples(&self) -> Range<usize> {
        self.samples.clone()
    }

    /// Screens `objects` over this chunk's samples (module documentation of
    /// [`conjunction`](super) for the filter chain).
    ///
    /// Memory stays proportional to the number of objects, whatever the chunk's length: only
    /// three samples of states are held at a time.
    pub fn screen(&self, objects: &[Propagator]) -> Screening {
        sieve::screen_chunk(&self.plan, self.samples.clone(), objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_samples_once_in_order() {
        let plan = ScreeningPlan::new(0.0, 1_000.0, &ScreeningConfig::default());
        assert_eq!(plan.samples(), 18);
        assert_eq!(plan.time(17), 1_000.0);
        for parts in [0, 1, 2, 5, 17, 18, 1_000] {
            let chunks = plan.split(parts);
            assert_eq!(chunks.len(), parts.clamp(1, 18));
            let mut next = 0;
            for chunk in &chunks {
                assert_eq!(chunk.samples().start, next);
                assert!(!chunk.samples().is_empty());
                next = chunk.samples().end;
            }
            assert_eq!(next, 18);
        }
    }

    #[test]
    fn a_step_that_is_not_positive_becomes_the_whole_window() {
        for step_s in [0.0, -5.0, f64::NAN] {
            let cfg = ScreeningConfig {
                step_s,
                ..ScreeningConfig::default()
            };
            let plan = ScreeningPlan::new(100.0, 400.0, &cfg);
            assert_eq!(
                (plan.samples(), plan.time(0), plan.time(1)),
                (2, 100.0, 400.0)
            );
        }
    }
}
