//! A deterministic scenario: a catalog with one planted close approach, wire-encoded streams for
//! all eight sources, and the exact outcome the ingest pipeline must produce from them.
//!
//! Everything derives from [`ScenarioConfig::seed`]: the same configuration always yields
//! byte-identical streams, so end-to-end tests can compare outputs exactly.
//!
//! **Planted conjunction.** Two objects share inclination and cross planes: their ascending
//! nodes differ by 20–60°, so the planes intersect on a line through the Earth's centre. Each
//! object's perigee is placed on that line and timed to be there at the designed TCA; B's orbit
//! is 3 km larger but with just enough eccentricity that its perigee passes
//! [`PLANTED_RADIAL_MISS_KM`] above A's there. A few Newton steps on B's mean anomaly then remove
//! the along-track timing error that SGP4's perturbations add to the Keplerian design. They
//! therefore meet once, about 300 m apart, and then drift apart by about 28 km
//! per orbit, so the pair does not repeat the encounter inside the window. The generator
//! confirms the encounter with the library's own SGP4 screening and records what it found.
//!
//! **Injected faults.** Each stream is sampled from SGP4 at a fixed cadence (ground sensors
//! report one visible object per sweep), then specific records are corrupted, one per
//! [`RejectReason`], some are re-sent (same id, or a new sequence number with identical content),
//! and some wire messages are damaged so that they fail to decode. [`Expected`] lists each.

use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::TAU;

use chrono::DateTime;
use thiserror::Error;

use crate::observation::{Observer, SensorKind};
use crate::orbit::catalog::{
    Catalog, CatalogError, CatalogObject, MU_KM3_S2, MeanElements, mean_motion_for_altitude,
};
use crate::orbit::conjunction::{ScreeningConfig, refine, screen};
use crate::orbit::frames::{self, cross, dot, line_of_sight_clear, norm, scale, sub};
use crate::orbit::propagate::{PropagateError, Propagator, TemeState};
use crate::process::validate::RejectReason;
use crate::sensors::{SensorInfo, SensorRegistry};
use crate::wire::isl::{IslFrame, IslRecord};
use crate::wire::optical::{OpticalPage, OpticalRecord, OpticalSite};
use crate::wire::radar::RadarRecord;
use crate::wire::synthetic::{SyntheticBody, SyntheticRecord};

/// NORAD number of the planted pair's first object.
pub const PLANTED_A: u32 = 45_001;
/// NORAD number of the planted pair's second object.
pub const PLANTED_B: u32 = 45_002;
/// Designed radial separation of the planted pair at closest approach, km.
pub const PLANTED_RADIAL_MISS_KM: f64 = 0.3;
/// Sequence offset of re-sent records, so their ids never collide with originals.
pub const RESEND_SEQ_OFFSET: u32 = 1_000_000;
/// Optical records per archive page.
pub const OPTICAL_PAGE_LEN: usize = 25;

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

/// Wire-encoded input for every source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streams {
    /// Radar datagrams (both radars), in send order.
    pub radar: Vec<Vec<u8>>,
    /// ISL frames, length prefix included, heartbeats among them; concatenate for a TCP stream.
    pub isl: Vec<Vec<u8>>,
    /// Optical archive response bodies; page `k`'s `next_cursor` is `"k+1"`, the last is `null`.
    pub optical: Vec<Vec<u8>>,
    /// One JSON record per message, per synthetic sensor kind.
    pub synthetic: BTreeMap<SensorKind, Vec<Vec<u8>>>,
}

impl Streams {
    /// The wire messages of `kind`'s stream, in send order.
    pub fn of(&self, kind: SensorKind) -> &[Vec<u8>] {
        match kind {
            SensorKind::Radar => &self.radar,
            SensorKind::Isl => &self.isl,
            SensorKind::Optical => &self.optical,
            other => self.synthetic.get(&other).map_or(&[], Vec::as_slice),
        }
    }

    /// The archive page for a cursor (`None` is the first page), as the mock archive serves it.
    pub fn optical_page(&self, cursor: Option<&str>) -> Option<&[u8]> {
        let index = match cursor {
            None => 0,
            Some(c) => c.parse::<usize>().ok()?,
        };
        self.optical.get(index).map(Vec::as_slice)
    }
}

/// A message that must fail to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedDecodeError {
    /// Which source's stream.
    pub source: SensorKind,
    /// Position in that stream's message list.
    pub index: usize,
    /// The decoder error's `code()`.
    pub code: &'static str,
}

/// An observation that validation must reject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedRejection {
    /// Observation id.
    pub id: String,
    /// Expected reason.
    pub reason: RejectReason,
}

/// A re-sent observation that dedup must drop.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExpectedDuplicate {
    /// Id of the copy (equal to `original_id` for a byte-identical re-send).
    pub id: String,
    /// Id of the first copy, which passes.
    pub original_id: String,
}

/// The planted close approach as the generator's own screening measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlantedConjunction {
    /// First object ([`PLANTED_A`]).
    pub a: u32,
    /// Second object ([`PLANTED_B`]).
    pub b: u32,
    /// Designed time of closest approach, UTC Unix seconds.
    pub designed_tca: f64,
    /// Time of closest approach found by screening, UTC Unix seconds.
    pub tca: f64,
    /// Miss distance found by screening, km.
    pub miss_distance_km: f64,
    /// Relative speed at TCA, km/s.
    pub relative_speed_km_s: f64,
}

/// What the pipeline must produce from [`Scenario::streams`].
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Messages that carry one observation each (heartbeats and page wrappers not counted;
    /// each optical record counts), including those that fail to decode.
    pub messages: usize,
    /// Messages that must fail to decode.
    pub decode_errors: Vec<ExpectedDecodeError>,
    /// Observations that validation must reject, one per reason at least.
    pub invalid: Vec<ExpectedRejection>,
    /// Observations that dedup must drop.
    pub duplicates: Vec<ExpectedDuplicate>,
    /// Observations that come out of dedup.
    pub accepted: usize,
    /// The planted close approach.
    pub conjunction: PlantedConjunction,
}

/// A generated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The configuration it was generated from.
    pub config: ScenarioConfig,
    /// Random objects plus the planted pair.
    pub catalog: Catalog,
    /// The sensors the streams come from.
    pub sensors: SensorRegistry,
    /// Wire input per source.
    pub streams: Streams,
    /// The exact expected outcome.
    pub expected: Expected,
}

/// Why a scenario could not be generated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ScenarioError {
    /// An element set could not be written.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// An object could not be propagated.
    #[error(transparent)]
    Propagate(#[from] PropagateError),
    /// The window has too few sweeps to place every injected fault.
    #[error("stream {0} has too few records to inject its faults; lengthen the window")]
    TooFewRecords(&'static str),
    /// The planted approach was not confirmed by screening.
    #[error("planted conjunction not confirmed: closest approach {miss_km} km")]
    PlantFailed {
        /// Closest approach found, km.
        miss_km: f64,
    },
    /// A record could not be encoded.
    #[error("record could not be encoded: {0}")]
    Encode(String),
}

/// A ground sensor: name, kind, numeric id, latitude and longitude (degrees), altitude (m).
type GroundSensor = (&'static str, SensorKind, Option<u16>, f64, f64, f64);

/// The ground sensors; sites are spread over both hemispheres so LEO passes are frequent.
const GROUND: [GroundSensor; 7] = [
    ("radar-1", SensorKind::Radar, Some(1), 42.6, -71.5, 100.0),
    ("radar-2", SensorKind::Radar, Some(2), 9.4, 167.5, 10.0),
    ("optical-1", SensorKind::Optical, None, 32.9, -105.5, 2200.0),
    ("slr-1", SensorKind::LaserRanging, None, 49.1, 12.9, 600.0),
    ("rf-1", SensorKind::PassiveRf, None, -31.0, 136.0, 150.0),
    (
        "bistatic-1",
        SensorKind::BistaticRadar,
        None,
        52.0,
        5.0,
        20.0,
    ),
    ("phot-1", SensorKind::Photometry, None, -24.6, -70.4, 2635.0),
];
const SBO: &str = "sbo-1";
const ISL_SATELLITE: u16 = 1;
const MIN_ELEVATION_RAD: f64 = 10.0 * std::f64::consts::PI / 180.0;

/// A ground site in radians.
#[derive(Clone, Copy)]
struct Site {
    lat: f64,
    lon: f64,
    alt: f64,
}

impl Scenario {
    /// Generates the scenario for `config`.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] when the configuration cannot hold every injected fault or the
    /// planted approach is not confirmed (neither happens with the defaults).
    pub fn generate(config: &ScenarioConfig) -> Result<Scenario, ScenarioError> {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let mut catalog =
            Catalog::generate(rng.u64(..), config.objects, 40_001, config.start_unix_s)?;
        catalog.objects.extend(plant_pair(&mut rng, config)?);
        let props: Vec<Propagator> = catalog
            .objects
            .iter()
            .map(Propagator::new)
            .collect::<Result<_, _>>()?;
        let conjunction = confirm_plant(&props, config)?;
        let sensors = registry();
        let mut generator = Generator::new(config, &props, rng.u64(..));
        generator.sample();
        let (streams, mut expected) = generator.finish()?;
        expected.conjunction = conjunction;
        Ok(Scenario {
            config: config.clone(),
            catalog,
            sensors,
            streams,
            expected,
        })
    }

    /// The sensor registry used by the scenario (also built by [`Scenario::generate`]).
    pub fn registry() -> SensorRegistry {
        registry()
    }
}

fn registry() -> SensorRegistry {
    let mut reg = SensorRegistry::new();
    for (name, kind, numeric_id, lat, lon, alt) in GROUND {
        let site = Observer::Ground {
            lat_rad: lat.to_radians(),
            lon_rad: lon.to_radians(),
            alt_m: alt,
        };
        reg.insert(SensorInfo {
            name: name.into(),
            kind,
            numeric_id,
            site: Some(site),
        });
    }
    reg.insert(SensorInfo {
        name: SBO.into(),
        kind: SensorKind::SpaceBasedOptical,
        numeric_id: None,
        site: None,
    });
    reg.insert(SensorInfo {
        name: "isl-1".into(),
        kind: SensorKind::Isl,
        numeric_id: Some(ISL_SATELLITE),
        site: None,
    });
    reg
}

/// Builds the two planted objects (see the module docs for the geometry).
fn plant_pair(
    rng: &mut fastrand::Rng,
    cfg: &ScenarioConfig,
) -> Result<[CatalogObject; 2], ScenarioError> {
    let inc = 50.0 + 40.0 * rng.f64();
    let raan_a = 360.0 * rng.f64();
    let raan_b = raan_a + 20.0 + 40.0 * rng.f64();
    let n_a = mean_motion_for_altitude(700.0 + 200.0 * rng.f64());
    let a_a = semi_major_axis_km(n_a);
    let a_b = a_a + 3.0;
    let e_a = 0.0001;
    // B's perigee, at the crossing, sits PLANTED_RADIAL_MISS_KM above A's perigee there.
    let e_b = 1.0 - (a_a * (1.0 - e_a) + PLANTED_RADIAL_MISS_KM) / a_b;
    let n_b = (MU_KM3_S2 / (a_b * a_b * a_b)).sqrt() * 86_400.0 / TAU;

    // Argument of latitude of the northern plane intersection in each orbit.
    let normal = |raan: f64| {
        let (i, o) = (f64::to_radians(inc), f64::to_radians(raan));
        [i.sin() * o.sin(), -i.sin() * o.cos(), i.cos()]
    };
    let mut line = cross(normal(raan_a), normal(raan_b));
    if line[2] < 0.0 {
        line = scale(line, -1.0);
    }
    let arg_of_latitude = |raan: f64| {
        let o = f64::to_radians(raan);
        let node = [o.cos(), o.sin(), 0.0];
        dot(cross(node, line), normal(raan))
            .atan2(dot(node, line))
            .to_degrees()
            .rem_euclid(360.0)
    };
    let t = cfg.conjunction_offset_s;
    let make = |norad_id, raan: f64, e, n: f64, mean_anomaly_fix_deg: f64| MeanElements {
        norad_id,
        name: format!("PLANTED-{norad_id}"),
        epoch_unix_s: cfg.start_unix_s,
        inclination_deg: inc,
        raan_deg: raan.rem_euclid(360.0),
        eccentricity: e,
        // Perigee on the intersection line, reached `t` seconds after epoch.
        arg_perigee_deg: arg_of_latitude(raan),
        mean_anomaly_deg: (-n * 360.0 / 86_400.0 * t + mean_anomaly_fix_deg).rem_euclid(360.0),
        mean_motion_rev_day: n,
        bstar: 0.0,
    };
    let a = CatalogObject::from_elements(&make(PLANTED_A, raan_a, e_a, n_a, 0.0))?;
    // The Keplerian timing above ignores SGP4's secular and short-period terms, which move both
    // objects by a kilometre or two along track. Radial and cross-track already agree by
    // symmetry, so a few Newton steps on B's mean anomaly close the along-track gap.
    let prop_a = Propagator::new(&a)?;
    let designed = cfg.start_unix_s + t;
    let mut fix_deg = 0.0;
    let mut b = CatalogObject::from_elements(&make(PLANTED_B, raan_b, e_b, n_b, fix_deg))?;
    for _ in 0..6 {
        let prop_b = Propagator::new(&b)?;
        let c = refine(&prop_a, &prop_b, designed - 300.0, designed + 300.0)?;
        let (sa, sb) = (prop_a.state_at(c.tca)?, prop_b.state_at(c.tca)?);
        let along_km =
            dot(sub(sb.position_km, sa.position_km), sb.velocity_km_s) / norm(sb.velocity_km_s);
        if along_km.abs() < 0.005 {
            break;
        }
        fix_deg -= (along_km / norm(sb.position_km)).to_degrees();
        b = CatalogObject::from_elements(&make(PLANTED_B, raan_b, e_b, n_b, fix_deg))?;
    }
    Ok([a, b])
}

fn semi_major_axis_km(rev_day: f64) -> f64 {
    let n = rev_day * TAU / 86_400.0;
    (MU_KM3_S2 / (n * n)).cbrt()
}

/// Screens the planted pair over the whole window and returns the approach nearest the design.
fn confirm_plant(
    props: &[Propagator],
    cfg: &ScenarioConfig,
) -> Result<PlantedConjunction, ScenarioError> {
    let pair: Vec<Propagator> = props
        .iter()
        .filter(|p| p.norad_id() == PLANTED_A || p.norad_id() == PLANTED_B)
        .cloned()
        .collect();
    let designed = cfg.start_unix_s + cfg.conjunction_offset_s;
    let screening = ScreeningConfig {
        threshold_km: cfg.conjunction_threshold_km,
        ..Default::default()
    };
    let found = screen(
        &pair,
        cfg.start_unix_s,
        cfg.start_unix_s + cfg.duration_s,
        &screening,
    );
    let best = found.conjunctions.iter().min_by(|x, y| {
        (x.tca - designed)
            .abs()
            .total_cmp(&(y.tca - designed).abs())
    });
    match best {
        Some(c) => Ok(PlantedConjunction {
            a: c.a,
            b: c.b,
            designed_tca: designed,
            tca: c.tca,
            miss_distance_km: c.miss_distance_km,
            relative_speed_km_s: c.relative_speed_km_s,
        }),
        None => {
            let miss_km = match pair.as_slice() {
                [a, b] => refine(a, b, designed - 120.0, designed + 120.0)?.miss_distance_km,
                _ => f64::NAN,
            };
            Err(ScenarioError::PlantFailed { miss_km })
        }
    }
}

/// Samples the streams, then injects faults and encodes them.
struct Generator<'a> {
    props: &'a [Propagator],
    rng: fastrand::Rng,
    /// `states[k][j]`: object `j` at sweep `k`, `None` where SGP4 failed.
    states: Vec<Vec<Option<TemeState>>>,
    times: Vec<f64>,
    radar: Vec<RadarRecord>,
    isl: Vec<IslRecord>,
    optical: Vec<OpticalRecord>,
    synthetic: BTreeMap<SensorKind, Vec<SyntheticRecord>>,
    /// Records each sensor has produced so far, by name (see [`Generator::next_seq`]).
    produced: BTreeMap<&'static str, u32>,
}

impl<'a> Generator<'a> {
    fn new(cfg: &ScenarioConfig, props: &'a [Propagator], seed: u64) -> Self {
        let sweeps = (cfg.duration_s / cfg.cadence_s).floor() as usize;
        let times: Vec<f64> = (0..sweeps)
            .map(|k| cfg.start_unix_s + k as f64 * cfg.cadence_s)
            .collect();
        let states = times
            .iter()
            .map(|t| props.iter().map(|p| p.state_at(*t).ok()).collect())
            .collect();
        Generator {
            props,
            rng: fastrand::Rng::with_seed(seed),
            states,
            times,
            radar: Vec::new(),
            isl: Vec::new(),
            optical: Vec::new(),
            synthetic: BTreeMap::new(),
            produced: BTreeMap::new(),
        }
    }

    fn noise(&mut self, scale: f64) -> f64 {
        (self.rng.f64() * 2.0 - 1.0) * scale
    }

    fn sample(&mut self) {
        for k in 0..self.times.len() {
            let t = self.times[k];
            let epoch_us = (t * 1e6).round() as i64;
            for (name, kind, id, lat, lon, alt) in GROUND {
                let site = Site {
                    lat: lat.to_radians(),
                    lon: lon.to_radians(),
                    alt,
                };
                let Some((j, state, range_m, az, el)) = self.pick_visible(k, site) else {
                    continue;
                };
                let seq = self.next_seq(name);
                let norad = self.props[j].norad_id();
                self.ground_record(
                    name,
                    kind,
                    id,
                    site,
                    seq,
                    epoch_us,
                    norad,
                    &state,
                    (range_m, az, el),
                );
            }
            self.space_records(k, epoch_us);
        }
    }

    /// Next sequence number of a sensor: one more than the records it has produced so far.
    /// Every call is followed by that sensor's record, so a running count per name gives the
    /// same numbers as counting the records, in constant rather than linear time (which made
    /// generation quadratic in the scenario's size).
    fn next_seq(&mut self, name: &'static str) -> u32 {
        let count = self.produced.entry(name).or_insert(0);
        *count += 1;
        *count
    }

    /// A random object above the elevation mask of `site` at sweep `k`.
    fn pick_visible(&mut self, k: usize, site: Site) -> Option<(usize, TemeState, f64, f64, f64)> {
        let t = self.times[k];
        let visible: Vec<(usize, TemeState, f64, f64, f64)> = self.states[k]
            .iter()
            .enumerate()
            .filter_map(|(j, s)| {
                let s = (*s)?;
                let (r, az, el) =
                    frames::range_az_el(site.lat, site.lon, site.alt, t, scale(s.position_km, 1e3));
                (el >= MIN_ELEVATION_RAD).then_some((j, s, r, az, el))
            })
            .collect();
        if visible.is_empty() {
            return None;
        }
        let i = self.rng.usize(..visible.len());
        visible.get(i).copied()
    }

    #[allow(clippy::too_many_arguments)]
    fn ground_record(
        &mut self,
        name: &str,
        kind: SensorKind,
        id: Option<u16>,
        site: Site,
        seq: u32,
        epoch_us: i64,
        norad: u32,
        state: &TemeState,
        (range_m, az, el): (f64, f64, f64),
    ) {
        let t = epoch_us as f64 / 1e6;
        let site_teme = frames::site_teme_m(site.lat, site.lon, site.alt, t);
        let target = scale(state.position_km, 1e3);
        let rho = sub(target, site_teme);
        let v_rel = sub(
            scale(state.velocity_km_s, 1e3),
            frames::site_velocity_teme_mps(site_teme),
        );
        let range_rate = dot(rho, v_rel) / norm(rho);
        let (ra, dec, _) = frames::ra_dec(site_teme, target);
        let range_m = range_m + self.noise(5.0);
        let az = (az + self.noise(2e-5)).rem_euclid(TAU);
        let el = el + self.noise(2e-5);
        let ra = (ra + self.noise(2e-5)).rem_euclid(TAU);
        let dec = dec + self.noise(2e-5);
        let object = Some(norad);
        let sensor = name.to_owned();
        let seq64 = u64::from(seq);
        let synth = |sigma, body| SyntheticRecord {
            sensor: sensor.clone(),
            seq: seq64,
            epoch_us,
            object,
            sigma,
            body,
        };
        match kind {
            SensorKind::Radar => self.radar.push(RadarRecord {
                sensor_id: id.unwrap_or(0),
                sequence: seq,
                epoch_us,
                object_id: object,
                range_m,
                az_rad: az,
                el_rad: el,
                range_rate_mps: Some(range_rate),
                snr_db: 15.0 + 10.0 * self.rng.f32(),
            }),
            SensorKind::Optical => {
                let secs = epoch_us.div_euclid(1_000_000);
                let nanos = (epoch_us.rem_euclid(1_000_000) * 1_000) as u32;
                self.optical.push(OpticalRecord {
                    id: format!("A-{seq:06}"),
                    sensor,
                    site: OpticalSite {
                        lat_deg: site.lat.to_degrees(),
                        lon_deg: site.lon.to_degrees(),
                        alt_m: site.alt,
                    },
                    object,
                    epoch: DateTime::from_timestamp(secs, nanos).unwrap_or_default(),
                    ra_deg: ra.to_degrees(),
                    dec_deg: dec.to_degrees(),
                    sigma_arcsec: Some(2.0),
                });
            }
            SensorKind::LaserRanging => {
                let rec = synth(Some(0.05), SyntheticBody::LaserRanging { range_m });
                self.push_synthetic(kind, rec);
            }
            SensorKind::PassiveRf => {
                let snr = Some(10.0 + 5.0 * self.rng.f64());
                let rec = synth(
                    Some(1e-3),
                    SyntheticBody::PassiveRf {
                        az_rad: az,
                        el_rad: el,
                        snr_db: snr,
                    },
                );
                self.push_synthetic(kind, rec);
            }
            SensorKind::BistaticRadar => {
                let body = SyntheticBody::BistaticRadar {
                    range_m,
                    az_rad: az,
                    el_rad: el,
                    range_rate_mps: Some(range_rate),
                };
                self.push_synthetic(kind, synth(Some(30.0), body));
            }
            SensorKind::Photometry => {
                // A 1 m² diffuse object is magnitude ~ -1.3 + 5·log10(range / 1000 km).
                let magnitude = -1.3 + 5.0 * (range_m / 1.0e6).log10();
                let rec = synth(
                    Some(5e-6),
                    SyntheticBody::Photometry {
                        ra_rad: ra,
                        dec_rad: dec,
                        magnitude,
                    },
                );
                self.push_synthetic(kind, rec);
            }
            SensorKind::Isl | SensorKind::SpaceBasedOptical => {}
        }
    }

    fn push_synthetic(&mut self, kind: SensorKind, rec: SyntheticRecord) {
        self.synthetic.entry(kind).or_default().push(rec);
    }

    /// ISL reports two random objects per sweep; the space-based telescope, carried by the
    /// first catalog object, reports one object it has a clear line of sight to.
    fn space_records(&mut self, k: usize, epoch_us: i64) {
        let n = self.props.len();
        for _ in 0..2 {
            let j = self.rng.usize(..n);
            let Some(s) = self.states[k][j] else { continue };
            let p = scale(s.position_km, 1e3);
            let position_m = [
                p[0] + self.noise(20.0),
                p[1] + self.noise(20.0),
                p[2] + self.noise(20.0),
            ];
            self.isl.push(IslRecord {
                satellite_id: ISL_SATELLITE,
                sequence: self.isl.len() as u32 + 1,
                epoch_us,
                object_id: Some(self.props[j].norad_id()),
                position_m,
                velocity_mps: scale(s.velocity_km_s, 1e3),
                sigma_m: 20.0,
            });
        }
        let Some(host) = self.states[k][0] else {
            return;
        };
        let host_m = scale(host.position_km, 1e3);
        let j = 1 + self.rng.usize(..n - 1);
        let Some(s) = self.states[k][j] else { return };
        let target = scale(s.position_km, 1e3);
        if !line_of_sight_clear(host_m, target) {
            return;
        }
        let (ra, dec, _) = frames::ra_dec(host_m, target);
        let seq = self.next_seq(SBO);
        let rec = SyntheticRecord {
            sensor: SBO.into(),
            seq: u64::from(seq),
            epoch_us,
            object: Some(self.props[j].norad_id()),
            sigma: Some(1e-5),
            body: SyntheticBody::SpaceBasedOptical {
                ra_rad: (ra + self.noise(1e-5)).rem_euclid(TAU),
                dec_rad: dec + self.noise(1e-5),
                observer_teme_m: host_m,
            },
        };
        self.push_synthetic(SensorKind::SpaceBasedOptical, rec);
    }

    fn finish(mut self) -> Result<(Streams, Expected), ScenarioError> {
        let mut out = Outcome::default();
        let radar = self.inject_radar(&mut out)?;
        let isl = self.inject_isl(&mut out)?;
        let optical = self.inject_optical(&mut out)?;
        let mut synthetic = BTreeMap::new();
        for kind in [
            SensorKind::LaserRanging,
            SensorKind::PassiveRf,
            SensorKind::SpaceBasedOptical,
            SensorKind::BistaticRadar,
            SensorKind::Photometry,
        ] {
            synthetic.insert(kind, self.inject_synthetic(kind, &mut out)?);
        }
        let observations = out.messages - out.decode_errors.len();
        let accepted = observations - out.invalid.len() - out.duplicates.len();
        out.invalid.sort();
        out.duplicates.sort();
        let expected = Expected {
            messages: out.messages,
            decode_errors: out.decode_errors,
            invalid: out.invalid,
            duplicates: out.duplicates,
            accepted,
            conjunction: PlantedConjunction {
                a: PLANTED_A,
                b: PLANTED_B,
                designed_tca: f64::NAN,
                tca: f64::NAN,
                miss_distance_km: f64::NAN,
                relative_speed_km_s: f64::NAN,
            },
        };
        Ok((
            Streams {
                radar,
                isl,
                optical,
                synthetic,
            },
            expected,
        ))
    }

    /// Picks `count` distinct unused indices below `len`, in increasing order.
    fn pick(
        &mut self,
        len: usize,
        used: &mut BTreeSet<usize>,
        count: usize,
        what: &'static str,
    ) -> Result<Vec<usize>, ScenarioError> {
        if len < used.len() + count + 2 {
            return Err(ScenarioError::TooFewRecords(what));
        }
        let mut picked = Vec::with_capacity(count);
        while picked.len() < count {
            let i = self.rng.usize(..len);
            if used.insert(i) {
                picked.push(i);
            }
        }
        Ok(picked)
    }

    fn inject_radar(&mut self, out: &mut Outcome) -> Result<Vec<Vec<u8>>, ScenarioError> {
        use RejectReason as R;
        let mut used = BTreeSet::new();
        let bad = self.pick(self.radar.len(), &mut used, 5, "radar")?;
        let mutations: [Mutation<RadarRecord>; 5] = [
            (R::NonFinite, |r| r.range_m = f64::NAN),
            (R::RangeOutOfBounds, |r| r.range_m = -5.0),
            (R::RangeRateOutOfBounds, |r| {
                r.range_rate_mps = Some(50_000.0)
            }),
            (R::AzimuthOutOfRange, |r| r.az_rad = 7.0),
            // An unregistered radar: no site, so its range/az/el cannot be placed.
            (R::MissingObserver, |r| r.sensor_id = 99),
        ];
        for (&i, (reason, mutate)) in bad.iter().zip(mutations) {
            mutate(&mut self.radar[i]);
            out.invalid.push(ExpectedRejection {
                id: radar_id(&self.radar[i]),
                reason,
            });
        }
        let exact = self.pick(self.radar.len(), &mut used, 2, "radar")?;
        let resend = self.pick(self.radar.len(), &mut used, 2, "radar")?;
        let corrupt = self.pick(self.radar.len(), &mut used, 3, "radar")?;
        let mut msgs = Vec::new();
        for (i, rec) in self.radar.iter().enumerate() {
            let bytes = rec.encode();
            msgs.push(bytes.to_vec());
            out.messages += 1;
            if exact.contains(&i) {
                msgs.push(bytes.to_vec());
                out.messages += 1;
                out.duplicates.push(ExpectedDuplicate {
                    id: radar_id(rec),
                    original_id: radar_id(rec),
                });
            }
            if resend.contains(&i) {
                let copy = RadarRecord {
                    sequence: rec.sequence + RESEND_SEQ_OFFSET,
                    ..*rec
                };
                msgs.push(copy.encode().to_vec());
                out.messages += 1;
                out.duplicates.push(ExpectedDuplicate {
                    id: radar_id(&copy),
                    original_id: radar_id(rec),
                });
            }
            if let Some(n) = corrupt.iter().position(|c| *c == i) {
                let (damaged, code) = match n {
                    0 => {
                        let mut b = bytes.to_vec();
                        b[30] ^= 0x40;
                        (b, "bad_checksum")
                    }
                    1 => (bytes[..40].to_vec(), "truncated"),
                    _ => {
                        let mut b = bytes.to_vec();
                        b[..4].copy_from_slice(b"RADR");
                        (b, "bad_magic")
                    }
                };
                out.decode_errors.push(ExpectedDecodeError {
                    source: SensorKind::Radar,
                    index: msgs.len(),
                    code,
                });
                msgs.push(damaged);
                out.messages += 1;
            }
        }
        Ok(msgs)
    }

    fn inject_isl(&mut self, out: &mut Outcome) -> Result<Vec<Vec<u8>>, ScenarioError> {
        use RejectReason as R;
        let mut used = BTreeSet::new();
        let bad = self.pick(self.isl.len(), &mut used, 3, "isl")?;
        let mutations: [Mutation<IslRecord>; 3] = [
            (R::PositionOutOfBounds, |r| r.position_m = [1.0e6, 0.0, 0.0]),
            (R::VelocityOutOfBounds, |r| {
                r.velocity_mps = [0.0, 50_000.0, 0.0]
            }),
            (R::InvalidUncertainty, |r| r.sigma_m = -1.0),
        ];
        for (&i, (reason, mutate)) in bad.iter().zip(mutations) {
            mutate(&mut self.isl[i]);
            out.invalid.push(ExpectedRejection {
                id: isl_id(&self.isl[i]),
                reason,
            });
        }
        let exact = self.pick(self.isl.len(), &mut used, 2, "isl")?;
        let mut msgs = Vec::new();
        for (i, rec) in self.isl.iter().enumerate() {
            // A heartbeat every ten frames, as a quiet link would send; they carry no record.
            if i % 10 == 0 {
                msgs.push(
                    IslFrame::Heartbeat {
                        satellite_id: ISL_SATELLITE,
                    }
                    .encode(),
                );
            }
            let frame = IslFrame::State(*rec).encode();
            msgs.push(frame.clone());
            out.messages += 1;
            if exact.contains(&i) {
                msgs.push(frame);
                out.messages += 1;
                out.duplicates.push(ExpectedDuplicate {
                    id: isl_id(rec),
                    original_id: isl_id(rec),
                });
            }
        }
        Ok(msgs)
    }

    fn inject_optical(&mut self, out: &mut Outcome) -> Result<Vec<Vec<u8>>, ScenarioError> {
        let mut used = BTreeSet::new();
        let bad = self.pick(self.optical.len(), &mut used, 2, "optical")?;
        let ids: Vec<String> = bad.iter().map(|&i| optical_id(&self.optical[i])).collect();
        if let (Some(&ra), Some(&dec)) = (bad.first(), bad.get(1)) {
            self.optical[ra].ra_deg = 400.0;
            self.optical[dec].dec_deg = 95.0;
        }
        for (id, reason) in ids.into_iter().zip([
            RejectReason::RightAscensionOutOfRange,
            RejectReason::DeclinationOutOfRange,
        ]) {
            out.invalid.push(ExpectedRejection { id, reason });
        }
        // The archive lists one observation twice under a second archive id.
        let resend = self.pick(self.optical.len(), &mut used, 1, "optical")?;
        let mut records = Vec::new();
        for (i, rec) in self.optical.iter().enumerate() {
            records.push(rec.clone());
            if resend.contains(&i) {
                let copy = OpticalRecord {
                    id: format!("{}-R", rec.id),
                    ..rec.clone()
                };
                out.duplicates.push(ExpectedDuplicate {
                    id: optical_id(&copy),
                    original_id: optical_id(rec),
                });
                records.push(copy);
            }
        }
        out.messages += records.len();
        let pages: Vec<&[OpticalRecord]> = records.chunks(OPTICAL_PAGE_LEN).collect();
        let mut bodies = Vec::with_capacity(pages.len());
        for (k, chunk) in pages.iter().enumerate() {
            let page = OpticalPage {
                observations: chunk.to_vec(),
                next_cursor: (k + 1 < pages.len()).then(|| (k + 1).to_string()),
            };
            bodies.push(
                page.encode()
                    .map_err(|e| ScenarioError::Encode(e.to_string()))?,
            );
        }
        Ok(bodies)
    }

    fn inject_synthetic(
        &mut self,
        kind: SensorKind,
        out: &mut Outcome,
    ) -> Result<Vec<Vec<u8>>, ScenarioError> {
        use RejectReason as R;
        let mut recs = self.synthetic.remove(&kind).unwrap_or_default();
        let mut used = BTreeSet::new();
        let mutations: Vec<Mutation<SyntheticRecord>> = match kind {
            SensorKind::LaserRanging => vec![
                (R::EpochOutOfWindow, |r| r.epoch_us = 5_000_000_000_000_000),
                (R::MissingSensor, |r| r.sensor = String::new()),
                // slr-1 is registered as laser ranging; a photometry body is a schema error.
                (R::SensorMeasurementMismatch, |r| {
                    r.body = SyntheticBody::Photometry {
                        ra_rad: 1.0,
                        dec_rad: 0.5,
                        magnitude: 8.0,
                    }
                }),
            ],
            SensorKind::PassiveRf => vec![(R::ElevationOutOfRange, |r| {
                if let SyntheticBody::PassiveRf { el_rad, .. } = &mut r.body {
                    *el_rad = -0.5;
                }
            })],
            SensorKind::SpaceBasedOptical => vec![(R::InvalidObserver, |r| {
                if let SyntheticBody::SpaceBasedOptical {
                    observer_teme_m, ..
                } = &mut r.body
                {
                    *observer_teme_m = [1.0e6, 0.0, 0.0];
                }
            })],
            SensorKind::Photometry => vec![(R::MagnitudeOutOfRange, |r| {
                if let SyntheticBody::Photometry { magnitude, .. } = &mut r.body {
                    *magnitude = 99.0;
                }
            })],
            _ => Vec::new(),
        };
        let name = kind.as_str();
        let bad = self.pick(recs.len(), &mut used, mutations.len(), name)?;
        for (&i, (reason, mutate)) in bad.iter().zip(mutations) {
            mutate(&mut recs[i]);
            out.invalid.push(ExpectedRejection {
                id: synthetic_id(&recs[i]),
                reason,
            });
        }
        let exact = self.pick(recs.len(), &mut used, 1, name)?;
        let resend = self.pick(recs.len(), &mut used, 1, name)?;
        let corrupt = if kind == SensorKind::PassiveRf {
            self.pick(recs.len(), &mut used, 1, name)?
        } else {
            Vec::new()
        };
        let mut msgs = Vec::new();
        let encode =
            |r: &SyntheticRecord| r.encode().map_err(|e| ScenarioError::Encode(e.to_string()));
        for (i, rec) in recs.iter().enumerate() {
            let bytes = encode(rec)?;
            msgs.push(bytes.clone());
            out.messages += 1;
            if exact.contains(&i) {
                msgs.push(bytes.clone());
                out.messages += 1;
                out.duplicates.push(ExpectedDuplicate {
                    id: synthetic_id(rec),
                    original_id: synthetic_id(rec),
                });
            }
            if resend.contains(&i) {
                let copy = SyntheticRecord {
                    seq: rec.seq + u64::from(RESEND_SEQ_OFFSET),
                    ..rec.clone()
                };
                msgs.push(encode(&copy)?);
                out.messages += 1;
                out.duplicates.push(ExpectedDuplicate {
                    id: synthetic_id(&copy),
                    original_id: synthetic_id(rec),
                });
            }
            if corrupt.contains(&i) {
                out.decode_errors.push(ExpectedDecodeError {
                    source: kind,
                    index: msgs.len(),
                    code: "invalid_json",
                });
                msgs.push(bytes[..bytes.len() / 2].to_vec());
                out.messages += 1;
            }
        }
        Ok(msgs)
    }
}

/// A fault to inject: the reason validation must give, and how to break the record.
type Mutation<T> = (RejectReason, fn(&mut T));

#[derive(Default)]
struct Outcome {
    messages: usize,
    decode_errors: Vec<ExpectedDecodeError>,
    invalid: Vec<ExpectedRejection>,
    duplicates: Vec<ExpectedDuplicate>,
}

// These mirror the id rules of `process::normalize`; the end-to-end test holds them together.
fn radar_id(r: &RadarRecord) -> String {
    let name = match r.sensor_id {
        1 => "radar-1".to_owned(),
        2 => "radar-2".to_owned(),
        other => format!("radar-{other}"),
    };
    format!("{name}/{}", r.sequence)
}

fn isl_id(r: &IslRecord) -> String {
    format!("isl-{}/{}", r.satellite_id, r.sequence)
}

fn optical_id(r: &OpticalRecord) -> String {
    format!("{}/{}", r.sensor, r.id)
}

fn synthetic_id(r: &SyntheticRecord) -> String {
    format!("{}/{}", r.sensor, r.seq)
}
