//! Frame conversions between ground sites, TEME and topocentric measurements.
//!
//! TEME is rotated into the Earth-fixed frame by Greenwich mean sidereal time alone (IAU-82, the
//! convention SGP4 itself uses); polar motion and UT1−UTC are ignored. That costs at most tens
//! of metres, far below radar and SGP4 accuracy, and keeps the code free of Earth-orientation
//! tables that an ingest service would have to download.

use std::f64::consts::TAU;

/// WGS-84 equatorial radius, metres.
pub const EARTH_RADIUS_M: f64 = 6_378_137.0;
/// WGS-84 flattening.
const FLATTENING: f64 = 1.0 / 298.257_223_563;
/// Earth rotation rate, radians per second.
pub const EARTH_ROTATION_RAD_S: f64 = 7.292_115_146_706_979e-5;

/// Greenwich mean sidereal time (IAU-82) at `unix_s`, radians in `[0, 2π)`.
pub fn gmst_rad(unix_s: f64) -> f64 {
    let jd_ut1 = unix_s / 86_400.0 + 2_440_587.5;
    let t = (jd_ut1 - 2_451_545.0) / 36_525.0;
    let seconds = -6.2e-6 * t * t * t
        + 0.093_104 * t * t
        + (876_600.0 * 3600.0 + 8_640_184.812_866) * t
        + 67_310.548_41;
    // 240 seconds of sidereal time per degree.
    (seconds.to_radians() / 240.0).rem_euclid(TAU)
}

/// WGS-84 geodetic coordinates to Earth-fixed cartesian, metres.
pub fn geodetic_to_ecef(lat_rad: f64, lon_rad: f64, alt_m: f64) -> [f64; 3] {
    let e2 = FLATTENING * (2.0 - FLATTENING);
    let (sin_lat, cos_lat) = lat_rad.sin_cos();
    let n = EARTH_RADIUS_M / (1.0 - e2 * sin_lat * sin_lat).sqrt();
    [
        (n + alt_m) * cos_lat * lon_rad.cos(),
        (n + alt_m) * cos_lat * lon_rad.sin(),
        (n * (1.0 - e2) + alt_m) * sin_lat,
    ]
}

/// Rotates a vector about z by `angle` (TEME → Earth-fixed uses `-gmst`, the reverse `+gmst`).
pub fn rotate_z(v: [f64; 3], angle: f64) -> [f64; 3] {
    let (s, c) = angle.sin_cos();
    [c * v[0] - s * v[1], s * v[0] + c * v[1], v[2]]
}

/// TEME position of a ground site at `unix_s`, metres.
pub fn site_teme_m(lat_rad: f64, lon_rad: f64, alt_m: f64, unix_s: f64) -> [f64; 3] {
    rotate_z(geodetic_to_ecef(lat_rad, lon_rad, alt_m), gmst_rad(unix_s))
}

/// TEME velocity of a ground site (Earth rotation), metres per second.
pub fn site_velocity_teme_mps(site_teme_m: [f64; 3]) -> [f64; 3] {
    [
        -EARTH_ROTATION_RAD_S * site_teme_m[1],
        EARTH_ROTATION_RAD_S * site_teme_m[0],
        0.0,
    ]
}

/// Range, azimuth and elevation of a TEME target seen from a ground site.
///
/// Returns `(range_m, az_rad, el_rad)` with azimuth clockwise from north in `[0, 2π)`.
pub fn range_az_el(
    lat_rad: f64,
    lon_rad: f64,
    alt_m: f64,
    unix_s: f64,
    target_teme_m: [f64; 3],
) -> (f64, f64, f64) {
    let target = rotate_z(target_teme_m, -gmst_rad(unix_s));
    let site = geodetic_to_ecef(lat_rad, lon_rad, alt_m);
    let rho = sub(target, site);
    let (east, north, up) = ecef_to_enu(rho, lat_rad, lon_rad);
    let range = norm(rho);
    let az = east.atan2(north).rem_euclid(TAU);
    let el = (up / range).clamp(-1.0, 1.0).asin();
    (range, az, el)
}

/// Inverse of [`range_az_el`]: the TEME position of a target at the given range and angles.
pub fn range_az_el_to_teme(
    lat_rad: f64,
    lon_rad: f64,
    alt_m: f64,
    unix_s: f64,
    range_m: f64,
    az_rad: f64,
    el_rad: f64,
) -> [f64; 3] {
    let (east, north, up) = (
        range_m * el_rad.cos() * az_rad.sin(),
        range_m * el_rad.cos() * az_rad.cos(),
        range_m * el_rad.sin(),
    );
    let (sl, cl) = lat_rad.sin_cos();
    let (so, co) = lon_rad.sin_cos();
    let rho = [
        -so * east - sl * co * north + cl * co * up,
        co * east - sl * so * north + cl * so * up,
        cl * north + sl * up,
    ];
    let site = geodetic_to_ecef(lat_rad, lon_rad, alt_m);
    rotate_z(add(site, rho), gmst_rad(unix_s))
}

/// Topocentric right ascension and declination of `to` seen from `from` (both TEME).
///
/// Returns `(ra_rad in [0, 2π), dec_rad, range)` in the units of the inputs for the range.
pub fn ra_dec(from: [f64; 3], to: [f64; 3]) -> (f64, f64, f64) {
    let d = sub(to, from);
    let range = norm(d);
    let ra = d[1].atan2(d[0]).rem_euclid(TAU);
    let dec = (d[2] / range).clamp(-1.0, 1.0).asin();
    (ra, dec, range)
}

/// Unit vector for right ascension and declination.
pub fn unit_from_ra_dec(ra_rad: f64, dec_rad: f64) -> [f64; 3] {
    [
        dec_rad.cos() * ra_rad.cos(),
        dec_rad.cos() * ra_rad.sin(),
        dec_rad.sin(),
    ]
}

/// Whether the straight segment between two TEME points (metres) clears the Earth's sphere.
pub fn line_of_sight_clear(a: [f64; 3], b: [f64; 3]) -> bool {
    let d = sub(b, a);
    let len2 = dot(d, d);
    if len2 == 0.0 {
        return true;
    }
    // Closest point of the segment to the Earth's centre.
    let t = (-dot(a, d) / len2).clamp(0.0, 1.0);
    let closest = add(a, scale(d, t));
    norm(closest) > EARTH_RADIUS_M
}

fn ecef_to_enu(rho: [f64; 3], lat_rad: f64, lon_rad: f64) -> (f64, f64, f64) {
    let (sl, cl) = lat_rad.sin_cos();
    let (so, co) = lon_rad.sin_cos();
    let east = -so * rho[0] + co * rho[1];
    let north = -sl * co * rho[0] - sl * so * rho[1] + cl * rho[2];
    let up = cl * co * rho[0] + cl * so * rho[1] + sl * rho[2];
    (east, north, up)
}

/// `a - b`.
pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// `a + b`.
pub fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// `v * k`.
pub fn scale(v: [f64; 3], k: f64) -> [f64; 3] {
    [v[0] * k, v[1] * k, v[2] * k]
}

/// Dot product.
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Euclidean norm.
pub fn norm(v: [f64; 3]) -> f64 {
    dot(v, v).sqrt()
}

/// Cross product.
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmst_matches_the_j2000_reference() {
        // At J2000.0 (2000-01-01T12:00:00 UT1) GMST is 280.46061837°.
        let gmst = gmst_rad(946_728_000.0).to_degrees();
        assert!((gmst - 280.460_618_37).abs() < 1e-6, "{gmst}");
    }

    #[test]
    fn range_az_el_round_trips() {
        let (lat, lon, alt, t) = (0.6, -1.9, 1500.0, 1_704_067_200.0);
        let target = [4.0e6, -5.5e6, 2.5e6];
        let (r, az, el) = range_az_el(lat, lon, alt, t, target);
        let back = range_az_el_to_teme(lat, lon, alt, t, r, az, el);
        assert!(norm(sub(back, target)) < 1e-6, "{back:?}");
    }

    #[test]
    fn zenith_target_has_ninety_degree_elevation() {
        let (lat, lon, t) = (0.3, 1.1, 1_704_067_200.0);
        let site = site_teme_m(lat, lon, 0.0, t);
        let up = rotate_z(geodetic_to_ecef(lat, lon, 500_000.0), gmst_rad(t));
        let (r, _, el) = range_az_el(lat, lon, 0.0, t, up);
        assert!((r - 500_000.0).abs() < 1e-3);
        assert!((el.to_degrees() - 90.0).abs() < 1e-6);
        assert!(site[2] > 0.0);
        let beside = rotate_z(up, 0.1);
        assert!(line_of_sight_clear(up, beside));
        assert!(!line_of_sight_clear(up, scale(up, -1.0)));
    }
}
