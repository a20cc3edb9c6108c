//! A seeded population shaped like the public catalog, for screening at catalog scale.
//!
//! No live catalog is reachable from tests or CI, so this stands in for one: the same regimes
//! in roughly the same proportions, with the structure that matters to screening (dense
//! constellation shells, debris bands around a parent orbit, a crowded GEO belt, eccentric
//! orbits that cross every LEO altitude at high speed).
//!
//! | regime | share | model |
//! |---|---|---|
//! | constellation shells | 25 % | five shells like Starlink's (530–570 km, 43–97.6°): Walker patterns phased so that crossing planes keep their satellites apart, station-kept to ±50 m |
//! | polar constellation | 3 % | 1,200 km, 87.9°, 18 planes (like OneWeb), phased the same way |
//! | sun-synchronous | 12 % | 450–850 km, inclination from the J2 sun-synchronous condition |
//! | other LEO | 19 % | 350–2,000 km, the launch-site inclinations plus a uniform tail |
//! | debris clouds | 28 % | seven breakups: fragments kicked from a parent orbit by up to 300 m/s, nodes spread by years of differential precession |
//! | MEO navigation | 3 % | GPS-, GLONASS-, Galileo- and BeiDou-like planes, plus upper stages |
//! | GEO belt | 5 % | active (±20 km, < 0.1°), drifting (< 15°) and graveyard (+250–400 km) |
//! | GTO | 3.5 % | perigee 180–650 km, apogee near 36,000 km |
//! | HEO | 1.5 % | Molniya (12 h, e ≈ 0.7, 63.4°) and Tundra (24 h, e ≈ 0.27) |
//!
//! Objects of the different regimes are interleaved in NORAD order, as in a real catalog.

use std::f64::consts::TAU;

use super::{
    Catalog, CatalogError, CatalogObject, EARTH_RADIUS_KM, MU_KM3_S2, MeanElements,
    mean_motion_for_altitude,
};

/// The regimes of [`Catalog::realistic`] and their shares of the population.
const MIX: [(Regime, f64); 9] = [
    (Regime::Shells, 0.25),
    (Regime::Polar, 0.03),
    (Regime::SunSync, 0.12),
    (Regime::Leo, 0.19),
    (Regime::Debris, 0.28),
    (Regime::Meo, 0.03),
    (Regime::Geo, 0.05),
    (Regime::Gto, 0.035),
    (Regime::Heo, 0.015),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Regime {
    Shells,
    Polar,
    SunSync,
    Leo,
    Debris,
    Meo,
    Geo,
    Gto,
    Heo,
}

/// Orbit design in convenient units, before it becomes a TLE.
struct Design {
    tag: &'static str,
    altitude_km: f64,
    eccentricity: f64,
    inclination_deg: f64,
    raan_deg: f64,
    arg_perigee_deg: f64,
    mean_anomaly_deg: f64,
    bstar: f64,
    /// Seconds before the reference epoch at which the element set was issued.
    age_s: f64,
}

impl Catalog {
    /// Generates `count` objects shaped like the public catalog (see the module docs), with
    /// NORAD numbers from `first_norad_id`; the same seed always gives the same catalog.
    ///
    /// Constellation members have their epoch at `epoch_unix_s`, so their designed phasing
    /// holds there; every other object's element set is up to a day and a half older, as in
    /// a catalog downloaded at `epoch_unix_s`.
    ///
    /// # Errors
    ///
    /// [`CatalogError`] when the NORAD range passes 99,999 or the epoch does not fit the TLE
    /// format.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::orbit::catalog::Catalog;
    ///
    /// let catalog = Catalog::realistic(1, 200, 40_001, 1_704_067_200.0)?;
    /// assert_eq!(catalog.objects.len(), 200);
    /// assert_eq!(catalog, Catalog::realistic(1, 200, 40_001, 1_704_067_200.0)?);
    /// # Ok::<(), sda_ingest_core::orbit::catalog::CatalogError>(())
    /// ```
    pub fn realistic(
        seed: u64,
        count: usize,
        first_norad_id: u32,
        epoch_unix_s: f64,
    ) -> Result<Catalog, CatalogError> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let counts = shares(count);
        let mut designs: Vec<std::vec::IntoIter<Design>> = MIX
            .iter()
            .zip(&counts)
            .map(|((regime, _), &n)| generate(*regime, n, &mut rng).into_iter())
            .collect();
        let mut order: Vec<usize> = counts
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| std::iter::repeat_n(i, n))
            .collect();
        rng.shuffle(&mut order);
        let mut objects = Vec::with_capacity(count);
        for (k, regime) in order.into_iter().enumerate() {
            let Some(d) = designs[regime].next() else {
                continue;
            };
            let norad_id = first_norad_id.saturating_add(k as u32);
            let elements = MeanElements {
                norad_id,
                name: format!("{} {norad_id}", d.tag),
                epoch_unix_s: epoch_unix_s - d.age_s,
                inclination_deg: d.inclination_deg,
                raan_deg: d.raan_deg.rem_euclid(360.0),
                eccentricity: d.eccentricity,
                arg_perigee_deg: d.arg_perigee_deg.rem_euclid(360.0),
                mean_anomaly_deg: d.mean_anomaly_deg.rem_euclid(360.0),
                mean_motion_rev_day: mean_motion_for_altitude(d.altitude_km),
                bstar: d.bstar,
            };
            objects.push(CatalogObject::from_elements(&elements)?);
        }
        Ok(Catalog { objects })
    }
}

/// Splits `count` by the shares of [`MIX`], largest remainders first, so the parts add up.
fn shares(count: usize) -> Vec<usize> {
    let exact: Vec<f64> = MIX.iter().map(|(_, s)| s * count as f64).collect();
    let mut parts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut by_remainder: Vec<usize> = (0..MIX.len()).collect();
    by_remainder
        .sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let missing = count - parts.iter().sum::<usize>();
    for &i in by_remainder.iter().take(missing) {
        parts[i] += 1;
    }
    parts
}

fn generate(regime: Regime, n: usize, rng: &mut fastrand::Rng) -> Vec<Design> {
    match regime {
        Regime::Shells => shells(n, rng),
        Regime::Polar => walker("POLAR-1200", n, 1_200.0, 87.9, 18, rng),
        Regime::SunSync => (0..n).map(|_| sun_synchronous(rng)).collect(),
        Regime::Leo => (0..n).map(|_| other_leo(rng)).collect(),
        Regime::Debris => debris(n, rng),
        Regime::Meo => meo(n, rng),
        Regime::Geo => (0..n).map(|_| geo(rng)).collect(),
        Regime::Gto => (0..n).map(|_| gto(rng)).collect(),
        Regime::Heo => (0..n).map(|_| heo(rng)).collect(),
    }
}

fn uniform(rng: &mut fastrand::Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.f64()
}

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

/// An element set issued up to a day and a half before the reference epoch.
fn stale(rng: &mut fastrand::Rng) -> f64 {
    uniform(rng, 0.0, 129_600.0)
}

fn shells(n: usize, rng: &mut fastrand::Rng) -> Vec<Design> {
    // (altitude km, inclination deg, planes, share of the shells)
    const SHELLS: [(f64, f64, usize, f64); 5] = [
        (550.0, 53.0, 72, 0.35),
        (540.0, 53.2, 72, 0.30),
        (570.0, 70.0, 36, 0.15),
        (560.0, 97.6, 6, 0.05),
        (530.0, 43.0, 28, 0.15),
    ];
    let mut out = Vec::with_capacity(n);
    let mut left = n;
    for (k, (alt, inc, planes, share)) in SHELLS.iter().enumerate() {
        let m = if k + 1 == SHELLS.len() {
            left
        } else {
            ((n as f64 * share).round() as usize).min(left)
        };
        left -= m;
        out.extend(walker("SHELL", m, *alt, *inc, *planes, rng));
    }
    out
}

/// A Walker-delta shell: `planes` planes evenly spaced in node, satellites evenly phased in
/// each, plane `p` offset by `F·p/planes` of the in-plane spacing, with the phasing factor `F`
/// that keeps satellites of crossing planes farthest apart ([`walker_phasing`]), as operators
/// design their shells. Station-keeping leaves the semi-major axis within 50 m (so the
/// pattern does not drift apart in a day) and the phase within 0.02°.
fn walker(
    tag: &'static str,
    n: usize,
    altitude_km: f64,
    inclination_deg: f64,
    planes: usize,
    rng: &mut fastrand::Rng,
) -> Vec<Design> {
    let planes = planes.max(1);
    let per_plane = n.div_ceil(planes).max(1);
    let spacing = 360.0 / per_plane as f64;
    let phasing = walker_phasing(planes, per_plane, inclination_deg) as f64;
    (0..n)
        .map(|i| {
            let (plane, slot) = (i / per_plane, i % per_plane);
            let u = spacing * (slot as f64 + phasing * plane as f64 / planes as f64);
            Design {
                tag,
                altitude_km: altitude_km + uniform(rng, -0.05, 0.05),
                eccentricity: uniform(rng, 0.0001, 0.0002),
                inclination_deg: inclination_deg + uniform(rng, -0.005, 0.005),
                raan_deg: 360.0 * plane as f64 / planes as f64 + uniform(rng, -0.01, 0.01),
                arg_perigee_deg: uniform(rng, 0.0, 360.0),
                // The perigee angle is random, so the phase is set on the argument of
                // latitude: mean anomaly = latitude argument - perigee argument.
                mean_anomaly_deg: 0.0,
                bstar: uniform(rng, 1e-4, 5e-4),
                age_s: 0.0,
            }
            .phased(u + uniform(rng, -0.02, 0.02))
        })
        .collect()
}

/// The Walker phasing factor `F` (0..planes) that maximises the smallest angle between any
/// two satellites of a circular shell of `planes` × `per_plane` at `inclination_deg`.
///
/// By the pattern's symmetry it is enough to look at every satellite against the first one.
/// Two satellites on circular orbits of the same period keep their phase difference, so the
/// cosine of the angle between them is `K0 + K1 cos(2λ + ψ)` over time `λ`: its largest value
/// (closest approach) is `K0 + |K1|`, no sampling needed.
fn walker_phasing(planes: usize, per_plane: usize, inclination_deg: f64) -> usize {
    (0..planes)
        .max_by(|&a, &b| {
            closest_angle_deg(planes, per_plane, inclination_deg, a).total_cmp(&closest_angle_deg(
                planes,
                per_plane,
                inclination_deg,
                b,
            ))
        })
        .unwrap_or(0)
}

/// The smallest angle, seen from the Earth's centre, between any two satellites of a Walker
/// shell with phasing factor `phasing`, degrees.
fn closest_angle_deg(planes: usize, per_plane: usize, inclination_deg: f64, phasing: usize) -> f64 {
    let (si, ci) = inclination_deg.to_radians().sin_cos();
    let axes = |raan: f64| {
        let (so, co) = raan.sin_cos();
        ([co, so, 0.0], [-so * ci, co * ci, si])
    };
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let (p1, q1) = axes(0.0);
    let total = (planes * per_plane) as f64;
    let mut closest = f64::NEG_INFINITY;
    for plane in 0..planes {
        let (p2, q2) = axes(TAU * plane as f64 / planes as f64);
        let (pp, qq, pq, qp) = (dot(p1, p2), dot(q1, q2), dot(p1, q2), dot(q1, p2));
        let k1 = 0.5 * ((pp - qq).powi(2) + (pq + qp).powi(2)).sqrt();
        for slot in 0..per_plane {
            if plane == 0 && slot == 0 {
                continue;
            }
            // Phase of the first satellite less this one's (u1 - u2).
            let d = -TAU * (slot as f64 / per_plane as f64 + (phasing * plane) as f64 / total);
            let k0 = 0.5 * ((pp + qq) * d.cos() + (qp - pq) * d.sin());
            closest = closest.max(k0 + k1);
        }
    }
    closest.clamp(-1.0, 1.0).acos().to_degrees()
}

impl Design {
    /// Sets the mean anomaly so that the argument of latitude (near-circular) is `u_deg`.
    fn phased(mut self, u_deg: f64) -> Design {
        self.mean_anomaly_deg = u_deg - self.arg_perigee_deg;
        self
    }
}

fn sun_synchronous(rng: &mut fastrand::Rng) -> Design {
    // Most sun-synchronous payloads fly between 500 and 800 km; a triangular spread.
    let altitude_km = 450.0 + 200.0 * (rng.f64() + rng.f64());
    let a = EARTH_RADIUS_KM + altitude_km;
    // J2 node regression equal to the Sun's mean motion: cos i = -(a / 12,352 km)^3.5.
    let inclination_deg = (-(a / 12_352.0).powf(3.5)).acos().to_degrees();
    Design {
        tag: "SSO",
        altitude_km,
        eccentricity: uniform(rng, 0.0005, 0.002),
        inclination_deg: inclination_deg + uniform(rng, -0.1, 0.1),
        raan_deg: uniform(rng, 0.0, 360.0),
        arg_perigee_deg: uniform(rng, 0.0, 360.0),
        mean_anomaly_deg: uniform(rng, 0.0, 360.0),
        bstar: uniform(rng, 2e-5, 2e-4),
        age_s: stale(rng),
    }
}

fn other_leo(rng: &mut fastrand::Rng) -> Design {
    const INCLINATIONS: [f64; 9] = [28.5, 35.0, 45.0, 51.6, 65.0, 74.0, 82.5, 86.4, 97.5];
    let altitude_km = match rng.u8(0..10) {
        0..=5 => uniform(rng, 350.0, 900.0),
        6..=8 => uniform(rng, 900.0, 1_500.0),
        _ => uniform(rng, 1_500.0, 2_000.0),
    };
    let inclination_deg = if rng.u8(0..5) == 0 {
        uniform(rng, 0.0, 110.0)
    } else {
        pick(rng, &INCLINATIONS) + uniform(rng, -0.5, 0.5)
    };
    let u = rng.f64();
    Design {
        tag: "LEO",
        altitude_km,
        eccentricity: 0.0002 + 0.02 * u * u,
        inclination_deg: inclination_deg.clamp(0.0, 180.0),
        raan_deg: uniform(rng, 0.0, 360.0),
        arg_perigee_deg: uniform(rng, 0.0, 360.0),
        mean_anomaly_deg: uniform(rng, 0.0, 360.0),
        bstar: uniform(rng, 1e-5, 3e-4),
        age_s: stale(rng),
    }
}

/// Fragments of seven breakups, weighted like the big public debris clouds.
fn debris(n: usize, rng: &mut fastrand::Rng) -> Vec<Design> {
    // (tag, parent altitude km, inclination deg, share)
    const PARENTS: [(&str, f64, f64, f64); 7] = [
        ("DEB-A", 850.0, 98.8, 0.30),
        ("DEB-B", 790.0, 74.0, 0.18),
        ("DEB-C", 780.0, 86.4, 0.10),
        ("DEB-D", 845.0, 98.7, 0.12),
        ("DEB-E", 770.0, 97.9, 0.10),
        ("DEB-F", 1_000.0, 82.9, 0.12),
        ("DEB-G", 1_450.0, 65.8, 0.08),
    ];
    let weights: Vec<f64> = PARENTS.iter().map(|p| p.3).collect();
    (0..n)
        .map(|_| {
            let (tag, alt, inc, _) = PARENTS[weighted(rng, &weights)];
            fragment(tag, alt, inc, rng)
        })
        .collect()
}

fn weighted(rng: &mut fastrand::Rng, weights: &[f64]) -> usize {
    let mut x = rng.f64() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// One fragment: the parent's circular velocity at a random point plus an isotropic kick of
/// up to 300 m/s (mostly under 100), turned back into an orbit. Fragments whose perigee fell
/// below 250 km have decayed since the breakup and are drawn again.
fn fragment(
    tag: &'static str,
    parent_alt_km: f64,
    inc_deg: f64,
    rng: &mut fastrand::Rng,
) -> Design {
    let r0 = EARTH_RADIUS_KM + parent_alt_km;
    let v0 = (MU_KM3_S2 / r0).sqrt();
    let (si, ci) = inc_deg.to_radians().sin_cos();
    loop {
        let u = uniform(rng, 0.0, TAU);
        let (su, cu) = u.sin_cos();
        let r = [r0 * cu, r0 * su * ci, r0 * su * si];
        let kick = (-0.08 * (1.0 - rng.f64()).ln()).min(0.3);
        let z = uniform(rng, -1.0, 1.0);
        let phi = uniform(rng, 0.0, TAU);
        let s = (1.0 - z * z).sqrt();
        let v = [
            -v0 * su + kick * s * phi.cos(),
            v0 * cu * ci + kick * s * phi.sin(),
            v0 * cu * si + kick * z,
        ];
        let (a, e, i) = shape(r, v);
        if a * (1.0 - e) < EARTH_RADIUS_KM + 250.0 || e >= 0.2 {
            continue;
        }
        // Years of differential J2 precession have spread nodes and perigees all round.
        return Design {
            tag,
            altitude_km: a - EARTH_RADIUS_KM,
            eccentricity: e,
            inclination_deg: i,
            raan_deg: uniform(rng, 0.0, 360.0),
            arg_perigee_deg: uniform(rng, 0.0, 360.0),
            mean_anomaly_deg: uniform(rng, 0.0, 360.0),
            bstar: 10f64.powf(uniform(rng, -4.3, -2.5)),
            age_s: stale(rng),
        };
    }
}

/// Semi-major axis (km), eccentricity and inclination (degrees) of a two-body state.
fn shape(r: [f64; 3], v: [f64; 3]) -> (f64, f64, f64) {
    use crate::orbit::frames::{cross, dot, norm, scale, sub};
    let (rn, v2) = (norm(r), dot(v, v));
    let a = 1.0 / (2.0 / rn - v2 / MU_KM3_S2);
    let e_vec = scale(
        sub(scale(r, v2 - MU_KM3_S2 / rn), scale(v, dot(r, v))),
        1.0 / MU_KM3_S2,
    );
    let h = cross(r, v);
    (a, norm(e_vec), (h[2] / norm(h)).acos().to_degrees())
}

fn meo(n: usize, rng: &mut fastrand::Rng) -> Vec<Design> {
    // (tag, altitude km, inclination deg, planes, share)
    const SYSTEMS: [(&str, f64, f64, usize, f64); 4] = [
        ("NAV-GPS", 20_180.0, 55.0, 6, 0.30),
        ("NAV-GLO", 19_130.0, 64.8, 3, 0.20),
        ("NAV-GAL", 23_222.0, 56.0, 3, 0.15),
        ("NAV-BDS", 21_528.0, 55.0, 3, 0.15),
    ];
    let stages = n / 5;
    let mut out = Vec::with_capacity(n);
    let mut left = n - stages;
    for (k, (tag, alt, inc, planes, share)) in SYSTEMS.iter().enumerate() {
        let m = if k + 1 == SYSTEMS.len() {
            left
        } else {
            ((n as f64 * share).round() as usize).min(left)
        };
        left -= m;
        out.extend(
            walker(tag, m, *alt, *inc, *planes, rng)
                .into_iter()
                .map(|mut d| {
                    d.eccentricity = uniform(rng, 0.001, 0.01);
                    d.bstar = 0.0;
                    d
                }),
        );
    }
    out.extend((0..stages).map(|_| Design {
        tag: "MEO-RB",
        altitude_km: uniform(rng, 18_000.0, 23_500.0),
        eccentricity: uniform(rng, 0.005, 0.08),
        inclination_deg: pick(rng, &[55.0, 56.0, 64.8]) + uniform(rng, -2.0, 2.0),
        raan_deg: uniform(rng, 0.0, 360.0),
        arg_perigee_deg: uniform(rng, 0.0, 360.0),
        mean_anomaly_deg: uniform(rng, 0.0, 360.0),
        bstar: 0.0,
        age_s: stale(rng),
    }));
    out
}

fn geo(rng: &mut fastrand::Rng) -> Design {
    const GEO_ALT_KM: f64 = 35_786.0;
    let (tag, altitude_km, inclination_deg, eccentricity, age_s) = match rng.u8(0..10) {
        0..=5 => (
            "GEO",
            GEO_ALT_KM + uniform(rng, -20.0, 20.0),
            uniform(rng, 0.0, 0.1),
            uniform(rng, 0.0, 0.0005),
            0.0,
        ),
        6..=7 => (
            "GEO-DRIFT",
            GEO_ALT_KM + uniform(rng, -100.0, 100.0),
            uniform(rng, 0.0, 15.0),
            uniform(rng, 0.0, 0.002),
            stale(rng),
        ),
        _ => (
            "GEO-GRAVE",
            GEO_ALT_KM + uniform(rng, 250.0, 400.0),
            uniform(rng, 0.0, 15.0),
            uniform(rng, 0.0, 0.005),
            stale(rng),
        ),
    };
    Design {
        tag,
        altitude_km,
        eccentricity,
        inclination_deg,
        raan_deg: uniform(rng, 0.0, 360.0),
        arg_perigee_deg: uniform(rng, 0.0, 360.0),
        mean_anomaly_deg: uniform(rng, 0.0, 360.0),
        bstar: 0.0,
        age_s,
    }
}

/// Apsides (altitudes, km) to the design's altitude (semi-major axis less Earth radius) and
/// eccentricity.
fn apsides(perigee_alt_km: f64, apogee_alt_km: f64) -> (f64, f64) {
    let (rp, ra) = (
        EARTH_RADIUS_KM + perigee_alt_km,
        EARTH_RADIUS_KM + apogee_alt_km,
    );
    ((rp + ra) / 2.0 - EARTH_RADIUS_KM, (ra - rp) / (ra + rp))
}

fn gto(rng: &mut fastrand::Rng) -> Design {
    let (altitude_km, eccentricity) =
        apsides(uniform(rng, 180.0, 650.0), uniform(rng, 35_000.0, 36_500.0));
    Design {
        tag: "GTO",
        altitude_km,
        eccentricity,
        inclination_deg: pick(rng, &[6.0, 19.5, 27.0, 28.5, 51.6]) + uniform(rng, -1.0, 1.0),
        raan_deg: uniform(rng, 0.0, 360.0),
        arg_perigee_deg: uniform(rng, 0.0, 360.0),
        mean_anomaly_deg: uniform(rng, 0.0, 360.0),
        bstar: uniform(rng, 1e-4, 1e-3),
        age_s: stale(rng),
    }
}

fn heo(rng: &mut fastrand::Rng) -> Design {
    let (tag, altitude_km, eccentricity) = if rng.u8(0..5) == 0 {
        (
            "TUNDRA",
            35_786.0 + uniform(rng, -50.0, 50.0),
            uniform(rng, 0.25, 0.3),
        )
    } else {
        (
            "MOLNIYA",
            26_560.0 - EARTH_RADIUS_KM + uniform(rng, -30.0, 30.0),
            uniform(rng, 0.68, 0.74),
        )
    };
    Design {
        tag,
        altitude_km,
        eccentricity,
        inclination_deg: 63.4 + uniform(rng, -0.6, 1.0),
        raan_deg: uniform(rng, 0.0, 360.0),
        arg_perigee_deg: 270.0 + uniform(rng, -10.0, 10.0),
        mean_anomaly_deg: uniform(rng, 0.0, 360.0),
        bstar: uniform(rng, 0.0, 1e-4),
        age_s: stale(rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for n in [0, 1, 7, 100, 2_000, 25_000] {
            let parts = shares(n);
            assert_eq!(parts.iter().sum::<usize>(), n);
            for (part, (_, share)) in parts.iter().zip(MIX) {
                assert!((*part as f64 - share * n as f64).abs() < 1.0);
            }
        }
    }

    #[test]
    fn fragments_stay_near_their_parent() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..500 {
            let d = fragment("DEB", 850.0, 98.8, &mut rng);
            assert!(
                (d.inclination_deg - 98.8).abs() < 3.0,
                "{}",
                d.inclination_deg
            );
            assert!(d.altitude_km * (1.0 - d.eccentricity) > 200.0);
            assert!((d.altitude_km - 850.0).abs() < 1_200.0, "{}", d.altitude_km);
        }
    }

    #[test]
    fn walker_phasing_keeps_crossing_planes_apart() {
        // Two satellites in one plane, half an orbit apart, are 180 degrees apart at all times.
        assert!((closest_angle_deg(1, 2, 53.0, 0) - 180.0).abs() < 1e-9);
        // Six planes of four at 53 degrees: in phase (F = 0) satellites of crossing planes
        // meet; F = 1 keeps them 23.2 degrees apart (checked by sampling every 0.1 degree).
        assert!(closest_angle_deg(6, 4, 53.0, 0) < 1e-6);
        assert!((closest_angle_deg(6, 4, 53.0, 1) - 23.233).abs() < 1e-3);
        assert_eq!(walker_phasing(6, 4, 53.0), 1);
        // A shell the size of Starlink's first: the chosen phasing keeps every pair at least
        // half a degree (60 km at 550 km) apart, where in-phase planes would collide.
        let f = walker_phasing(72, 22, 53.0);
        assert!(closest_angle_deg(72, 22, 53.0, f) > 0.5, "F = {f}");
        assert!(closest_angle_deg(72, 22, 53.0, 0) < 0.01);
    }

    #[test]
    fn sun_synchronous_inclination() {
        let mut rng = fastrand::Rng::with_seed(1);
        let d = sun_synchronous(&mut rng);
        // 98.2 degrees at 700 km; between 97.2 and 98.9 over 450..850 km.
        assert!(
            (97.0..99.1).contains(&d.inclination_deg),
            "{}",
            d.inclination_deg
        );
    }
}
