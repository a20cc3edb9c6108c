//! Sampling: each sensor's records, from SGP4 states at a fixed cadence.

use std::collections::{BTreeMap, HashMap};
use std::f64::consts::TAU;

use chrono::DateTime;

use crate::observation::SensorKind;
use crate::orbit::frames::{self, dot, line_of_sight_clear, norm, scale, sub};
use crate::orbit::propagate::{Propagator, TemeState};
use crate::sensors::SensorRegistry;
use crate::wire::isl::IslRecord;
use crate::wire::optical::{OpticalRecord, OpticalSite};
use crate::wire::radar::RadarRecord;
use crate::wire::synthetic::{SyntheticBody, SyntheticRecord};

use super::ScenarioConfig;
use super::config::{Population, SPARSE_DRAWS};
use super::sensors::{GROUND, ISL_SATELLITE, MIN_ELEVATION_RAD, SBO, Site};

/// The objects' states at the sweeps, computed as the sensors need them.
enum States {
    /// Every object at every sweep, computed up front (`[k][j]`: object `j` at sweep `k`,
    /// `None` where SGP4 failed): the built-in catalog's sampling, whose streams tests pin.
    Eager(Vec<Vec<Option<TemeState>>>),
    /// Only the objects a sensor looks at, each at most once per sweep: catalogs too large to
    /// propagate whole at every sweep.
    Sparse {
        /// The sweep `cache` holds states of.
        sweep: usize,
        cache: HashMap<usize, Option<TemeState>>,
    },
}

/// A visible object: its index, state, and range (m), azimuth and elevation (rad) from the
/// site.
type Sighting = (usize, TemeState, f64, f64, f64);

/// Samples the streams, then injects faults and encodes them.
pub(super) struct Generator<'a> {
    pub(super) props: &'a [Propagator],
    /// The sensors, for the observation ids normalisation will give each record.
    pub(super) registry: &'a SensorRegistry,
    pub(super) rng: fastrand::Rng,
    /// Whether a stream too short for its faults gets fewer of them rather than failing the
    /// generation (an external catalog, which may hold only a few objects).
    pub(super) lenient: bool,
    states: States,
    times: Vec<f64>,
    pub(super) radar: Vec<RadarRecord>,
    pub(super) isl: Vec<IslRecord>,
    pub(super) optical: Vec<OpticalRecord>,
    pub(super) synthetic: BTreeMap<SensorKind, Vec<SyntheticRecord>>,
    /// Records each sensor has produced so far, by name (see [`Generator::next_seq`]).
    produced: BTreeMap<&'static str, u32>,
}

impl<'a> Generator<'a> {
    pub(super) fn new(
        cfg: &ScenarioConfig,
        props: &'a [Propagator],
        registry: &'a SensorRegistry,
        seed: u64,
    ) -> Self {
        let sweeps = (cfg.duration_s / cfg.cadence_s).floor() as usize;
        let times: Vec<f64> = (0..sweeps)
            .map(|k| cfg.start_unix_s + k as f64 * cfg.cadence_s)
            .collect();
        let states = if cfg.population.is_sparse() {
            States::Sparse {
                sweep: 0,
                cache: HashMap::new(),
            }
        } else {
            States::Eager(
                times
                    .iter()
                    .map(|t| props.iter().map(|p| p.state_at(*t).ok()).collect())
                    .collect(),
            )
        };
        Generator {
            props,
            registry,
            rng: fastrand::Rng::with_seed(seed),
            lenient: matches!(cfg.population, Population::External(_)),
            states,
            times,
            radar: Vec::new(),
            isl: Vec::new(),
            optical: Vec::new(),
            synthetic: BTreeMap::new(),
            produced: BTreeMap::new(),
        }
    }

    pub(super) fn noise(&mut self, scale: f64) -> f64 {
        (self.rng.f64() * 2.0 - 1.0) * scale
    }

    pub(super) fn sample(&mut self) {
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

    /// Object `j` at sweep `k`; `None` where SGP4 fails.
    fn state(&mut self, k: usize, j: usize) -> Option<TemeState> {
        match &mut self.states {
            States::Eager(states) => states[k][j],
            States::Sparse { sweep, cache } => {
                if *sweep != k {
                    *sweep = k;
                    cache.clear();
                }
                let (props, t) = (self.props, self.times[k]);
                *cache.entry(j).or_insert_with(|| props[j].state_at(t).ok())
            }
        }
    }

    /// Object `j` as seen from `site` at sweep `k`, if it is above the elevation mask.
    fn sighting(&mut self, k: usize, j: usize, site: Site) -> Option<Sighting> {
        let s = self.state(k, j)?;
        let (r, az, el) = frames::range_az_el(
            site.lat,
            site.lon,
            site.alt,
            self.times[k],
            scale(s.position_km, 1e3),
        );
        (el >= MIN_ELEVATION_RAD).then_some((j, s, r, az, el))
    }

    /// A random object above the elevation mask of `site` at sweep `k`.
    ///
    /// A large catalog is not looked at whole: objects are drawn at random until one is
    /// visible, at most [`SPARSE_DRAWS`] of them. The first visible object of a sequence of
    /// uniform draws is uniform among the visible objects, so this is the same choice as
    /// drawing from the visible ones, except that a sweep may find nothing when few are.
    fn pick_visible(&mut self, k: usize, site: Site) -> Option<Sighting> {
        let n = self.props.len();
        if matches!(self.states, States::Sparse { .. }) && n > SPARSE_DRAWS {
            return (0..SPARSE_DRAWS).find_map(|_| {
                let j = self.rng.usize(..n);
                self.sighting(k, j, site)
            });
        }
        let visible: Vec<Sighting> = (0..n).filter_map(|j| self.sighting(k, j, site)).collect();
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
            let Some(s) = self.state(k, j) else { continue };
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
        // A catalog of one object has nothing for the telescope to look at.
        let (Some(host), true) = (self.state(k, 0), n > 1) else {
            return;
        };
        let host_m = scale(host.position_km, 1e3);
        let j = 1 + self.rng.usize(..n - 1);
        let Some(s) = self.state(k, j) else { return };
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
}
