//! Fault injection and encoding: invalid records, re-sends and damaged messages, each recorded
//! in the expected outcome.

use std::collections::{BTreeMap, BTreeSet};

use crate::observation::SensorKind;
use crate::process::normalize::{isl_id, optical_id, radar_id, synthetic_id};
use crate::process::validate::RejectReason;
use crate::wire::isl::{IslFrame, IslRecord};
use crate::wire::optical::{OpticalPage, OpticalRecord};
use crate::wire::radar::RadarRecord;
use crate::wire::synthetic::{SyntheticBody, SyntheticRecord};

use super::sample::Generator;
use super::sensors::ISL_SATELLITE;
use super::{
    Expected, ExpectedDecodeError, ExpectedDuplicate, ExpectedRejection, OPTICAL_PAGE_LEN,
    RESEND_SEQ_OFFSET, ScenarioError, Streams,
};

impl Generator<'_> {
    pub(super) fn finish(mut self) -> Result<(Streams, Expected), ScenarioError> {
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
            conjunction: None,
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

    /// Picks `count` distinct unused indices below `len`, in increasing order; when there are
    /// not enough records, none at all if the generator is lenient, else an error.
    fn pick(
        &mut self,
        len: usize,
        used: &mut BTreeSet<usize>,
        count: usize,
        what: &'static str,
    ) -> Result<Vec<usize>, ScenarioError> {
        if len < used.len() + count + 2 {
            if self.lenient {
                return Ok(Vec::new());
            }
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
                id: radar_id(self.registry, &self.radar[i]),
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
                    id: radar_id(self.registry, rec),
                    original_id: radar_id(self.registry, rec),
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
                    id: radar_id(self.registry, &copy),
                    original_id: radar_id(self.registry, rec),
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
                id: isl_id(self.registry, &self.isl[i]),
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
                    id: isl_id(self.registry, rec),
                    original_id: isl_id(self.registry, rec),
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
pub(super) struct Outcome {
    messages: usize,
    decode_errors: Vec<ExpectedDecodeError>,
    invalid: Vec<ExpectedRejection>,
    duplicates: Vec<ExpectedDuplicate>,
}
