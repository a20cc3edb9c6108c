//! The observation's JSON line, written field by field.
//!
//! The bytes are exactly what `serde_json` makes of the derived `Serialize` of [`Observation`]
//! (a property test holds the two equal for arbitrary observations), so the derive stays the
//! definition of the format. Writing it by hand is worth it because it is the largest single
//! cost per record in the service: the derive escapes every key through the generic string
//! path and drives a state machine per field, where here the keys are constant bytes and only
//! the values go through `serde_json` (strings escaped, numbers formatted, non-finite numbers
//! written as `null`, as the derive does).

use super::{Measurement, Observation, Observer, Quality};

/// Appends `obs` as one line of JSON (no newline) to `out`.
///
/// # Errors
///
/// None in practice: writing to a `Vec` cannot fail, and neither can encoding strings and
/// numbers; the `Result` is `serde_json`'s.
pub(super) fn write_observation(obs: &Observation, out: &mut Vec<u8>) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"id\":");
    string(out, &obs.id)?;
    out.extend_from_slice(b",\"sensor\":");
    string(out, &obs.sensor)?;
    out.extend_from_slice(b",\"sensor_kind\":\"");
    // Kind names are snake_case ASCII: nothing to escape.
    out.extend_from_slice(obs.sensor_kind.as_str().as_bytes());
    out.push(b'"');
    if let Some(hint) = obs.object_hint {
        out.extend_from_slice(b",\"object_hint\":");
        serde_json::to_writer(&mut *out, &hint)?;
    }
    out.extend_from_slice(b",\"epoch\":");
    number(out, obs.epoch)?;
    if let Some(observer) = &obs.observer {
        out.extend_from_slice(b",\"observer\":");
        write_observer(observer, out)?;
    }
    out.extend_from_slice(b",\"measurement\":");
    write_measurement(&obs.measurement, out)?;
    out.extend_from_slice(b",\"quality\":");
    write_quality(&obs.quality, out)?;
    out.extend_from_slice(b",\"ingest\":{");
    let mut first = true;
    if let Some(received_at) = obs.ingest.received_at {
        out.extend_from_slice(b"\"received_at\":");
        number(out, received_at)?;
        first = false;
    }
    if let Some(source) = obs.ingest.source {
        if !first {
            out.push(b',');
        }
        out.extend_from_slice(b"\"source\":\"");
        // Kind names are snake_case ASCII: nothing to escape.
        out.extend_from_slice(source.as_str().as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

fn write_observer(observer: &Observer, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match *observer {
        Observer::Ground {
            lat_rad,
            lon_rad,
            alt_m,
        } => fields(
            out,
            b"{\"type\":\"ground\"",
            &[
                (b"lat_rad", lat_rad),
                (b"lon_rad", lon_rad),
                (b"alt_m", alt_m),
            ],
        )?,
        Observer::Space { x_m, y_m, z_m } => fields(
            out,
            b"{\"type\":\"space\"",
            &[(b"x_m", x_m), (b"y_m", y_m), (b"z_m", z_m)],
        )?,
    }
    out.push(b'}');
    Ok(())
}

fn write_measurement(m: &Measurement, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match *m {
        Measurement::RangeAzEl {
            range_m,
            az_rad,
            el_rad,
            range_rate_mps,
        } => {
            fields(
                out,
                b"{\"type\":\"range_az_el\"",
                &[
                    (b"range_m", range_m),
                    (b"az_rad", az_rad),
                    (b"el_rad", el_rad),
                ],
            )?;
            if let Some(rate) = range_rate_mps {
                fields(out, b"", &[(b"range_rate_mps", rate)])?;
            }
        }
        Measurement::AzEl { az_rad, el_rad } => fields(
            out,
            b"{\"type\":\"az_el\"",
            &[(b"az_rad", az_rad), (b"el_rad", el_rad)],
        )?,
        Measurement::Angles { ra_rad, dec_rad } => fields(
            out,
            b"{\"type\":\"angles\"",
            &[(b"ra_rad", ra_rad), (b"dec_rad", dec_rad)],
        )?,
        Measurement::Range { range_m } => {
            fields(out, b"{\"type\":\"range\"", &[(b"range_m", range_m)])?;
        }
        Measurement::Position {
            x_m,
            y_m,
            z_m,
            velocity_mps,
        } => {
            fields(
                out,
                b"{\"type\":\"position\"",
                &[(b"x_m", x_m), (b"y_m", y_m), (b"z_m", z_m)],
            )?;
            if let Some([vx, vy, vz]) = velocity_mps {
                out.extend_from_slice(b",\"velocity_mps\":[");
                number(out, vx)?;
                out.push(b',');
                number(out, vy)?;
                out.push(b',');
                number(out, vz)?;
                out.push(b']');
            }
        }
        Measurement::Photometry {
            ra_rad,
            dec_rad,
            magnitude,
        } => fields(
            out,
            b"{\"type\":\"photometry\"",
            &[
                (b"ra_rad", ra_rad),
                (b"dec_rad", dec_rad),
                (b"magnitude", magnitude),
            ],
        )?,
    }
    out.push(b'}');
    Ok(())
}

fn write_quality(q: &Quality, out: &mut Vec<u8>) -> serde_json::Result<()> {
    out.push(b'{');
    let mut first = true;
    for (name, value) in [("sigma", q.sigma), ("snr_db", q.snr_db)] {
        let Some(value) = value else { continue };
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        number(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

/// Writes `head` (an object's opening and its tag, or nothing when continuing one), then
/// `,"name":value` for each field.
fn fields(out: &mut Vec<u8>, head: &[u8], fields: &[(&[u8], f64)]) -> serde_json::Result<()> {
    out.extend_from_slice(head);
    for &(name, value) in fields {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name);
        out.extend_from_slice(b"\":");
        number(out, value)?;
    }
    Ok(())
}

/// A JSON string, escaped as `serde_json` escapes it.
fn string(out: &mut Vec<u8>, s: &str) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, s)
}

/// A number as `serde_json` writes an `f64` (`null` when not finite).
fn number(out: &mut Vec<u8>, value: f64) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, &value)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::observation::{IngestMeta, SensorKind};

    /// Finite values of every magnitude, and the non-finite ones JSON has no room for.
    fn value() -> BoxedStrategy<f64> {
        prop_oneof![
            8 => any::<f64>(),
            2 => -1.0e7f64..1.0e7,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(0.0),
            1 => Just(-0.0),
        ]
        .boxed()
    }

    fn measurement() -> BoxedStrategy<Measurement> {
        let o = || proptest::option::of(value());
        prop_oneof![
            (value(), value(), value(), o()).prop_map(|(r, a, e, rr)| Measurement::RangeAzEl {
                range_m: r,
                az_rad: a,
                el_rad: e,
                range_rate_mps: rr,
            }),
            (value(), value()).prop_map(|(a, e)| Measurement::AzEl {
                az_rad: a,
                el_rad: e
            }),
            (value(), value()).prop_map(|(r, d)| Measurement::Angles {
                ra_rad: r,
                dec_rad: d
            }),
            value().prop_map(|r| Measurement::Range { range_m: r }),
            (
                value(),
                value(),
                value(),
                proptest::option::of([value(), value(), value()])
            )
                .prop_map(|(x, y, z, v)| Measurement::Position {
                    x_m: x,
                    y_m: y,
                    z_m: z,
                    velocity_mps: v,
                }),
            (value(), value(), value()).prop_map(|(r, d, m)| Measurement::Photometry {
                ra_rad: r,
                dec_rad: d,
                magnitude: m,
            }),
        ]
        .boxed()
    }

    fn observer() -> BoxedStrategy<Observer> {
        prop_oneof![
            (value(), value(), value()).prop_map(|(a, b, c)| Observer::Ground {
                lat_rad: a,
                lon_rad: b,
                alt_m: c,
            }),
            (value(), value(), value()).prop_map(|(a, b, c)| Observer::Space {
                x_m: a,
                y_m: b,
                z_m: c,
            }),
        ]
        .boxed()
    }

    fn observation() -> impl Strategy<Value = Observation> {
        (
            // Any characters: quotes, backslashes and control characters must be escaped and
            // everything else kept exactly as serde_json does.
            proptest::collection::vec(any::<char>(), 0..16)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
            proptest::collection::vec(prop_oneof![Just('"'), Just('\\'), any::<char>()], 0..8)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
            proptest::sample::select(SensorKind::ALL.to_vec()),
            proptest::option::of(any::<u32>()),
            value(),
            proptest::option::of(observer()),
            measurement(),
            (
                proptest::option::of(value()),
                proptest::option::of(value()),
                proptest::option::of(value()),
                proptest::option::of(proptest::sample::select(SensorKind::ALL.to_vec())),
            ),
        )
            .prop_map(
                |(id, sensor, sensor_kind, object_hint, epoch, observer, measurement, q)| {
                    Observation {
                        id,
                        sensor,
                        sensor_kind,
                        object_hint,
                        epoch,
                        observer,
                        measurement,
                        quality: Quality {
                            sigma: q.0,
                            snr_db: q.1,
                        },
                        ingest: IngestMeta {
                            received_at: q.2,
                            source: q.3,
                        },
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Byte for byte what the derived `Serialize` gives.
        #[test]
        fn writes_what_the_derive_writes(obs in observation()) {
            let mut ours = Vec::new();
            write_observation(&obs, &mut ours).unwrap();
            let derived = serde_json::to_vec(&obs).unwrap();
            prop_assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(derived).unwrap()
            );
        }
    }
}
