//! What a scenario is generated from.

/// Scenario parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Random catalog objects besides the planted pair.
    pub objects: usize,
    /// Window start and element epoch, UTC Unix seconds.
    pub start_unix_s: f64,
    /// Window length, seconds.
    pub duration_s: f64,
    /// Seconds between sensor sweeps.
    pub cadence_s: f64,
    /// Designed time of closest approach, seconds after the start.
    pub conjunction_offset_s: f64,
    /// Miss distance below which the planted approach must come, km.
    pub conjunction_threshold_km: f64,
}

impl Default for ScenarioConfig {
    /// 30 objects, two hours from 2024-01-01T00:00:00Z, one sweep a minute, TCA at one hour.
    fn default() -> Self {
        ScenarioConfig {
            seed: 42,
            objects: 30,
            start_unix_s: 1_704_067_200.0,
            duration_s: 7_200.0,
            cadence_s: 60.0,
            conjunction_offset_s: 3_600.0,
            conjunction_threshold_km: 1.0,
        }
    }
}
