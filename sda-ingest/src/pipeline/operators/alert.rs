//! `alert_emitter`: turns a screened close approach into a conjunction alert record.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use sda_orchestrator::{OperatorContext, OperatorFactory};
use serde::Serialize;

use super::NamedConjunction;
use crate::pipeline::faults::FaultInjection;
use crate::pipeline::frame::unix_now;

/// One line of `alerts.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConjunctionAlert {
    /// `CA-{a}-{b}-{tca, whole seconds}`: stable for the same approach.
    pub alert_id: String,
    /// NORAD number of the first object (the smaller).
    pub object_a: u32,
    /// NORAD number of the second object.
    pub object_b: u32,
    /// Name of the first object in the catalog; absent when the catalog has no name for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_a: Option<String>,
    /// Name of the second object in the catalog; absent when the catalog has no name for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_b: Option<String>,
    /// Time of closest approach, UTC seconds since the Unix epoch.
    pub tca: f64,
    /// Time of closest approach, RFC 3339 UTC with milliseconds.
    pub tca_utc: String,
    /// Separation at closest approach, km.
    pub miss_distance_km: f64,
    /// Relative speed at closest approach, km/s.
    pub relative_speed_km_s: f64,
    /// The miss vector (second object less first) at closest approach in the first object's
    /// frame: `[radial, in-track, cross-track]`, km; its length is `miss_distance_km`.
    pub miss_rtn_km: [f64; 3],
    /// The separation at closest approach corrected by the two objects' fused states (their
    /// sensors' observations of the closed event-time windows, weighted by sigma), km; equal to
    /// `miss_distance_km` when neither object has been fused.
    pub fused_miss_distance_km: f64,
    /// How many observations the two fused states were made from (0: none).
    pub fused_observations: u32,
    /// `high` under 1 km, `medium` under 5 km, else `low`.
    pub severity: &'static str,
    /// When the alert was raised: UTC seconds since the Unix epoch.
    pub raised_at: f64,
}

impl ConjunctionAlert {
    /// The alert for `named`, raised now.
    pub fn from_conjunction(named: &NamedConjunction) -> ConjunctionAlert {
        let c = &named.conjunction;
        let secs = c.tca.floor();
        let tca_utc = DateTime::from_timestamp(secs as i64, ((c.tca - secs) * 1e9) as u32)
            .map_or_else(String::new, |t| {
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            });
        ConjunctionAlert {
            alert_id: format!("CA-{}-{}-{}", c.a, c.b, secs as i64),
            object_a: c.a,
            object_b: c.b,
            name_a: named.name_a.as_deref().map(str::to_owned),
            name_b: named.name_b.as_deref().map(str::to_owned),
            tca: c.tca,
            tca_utc,
            miss_distance_km: c.miss_distance_km,
            relative_speed_km_s: c.relative_speed_km_s,
            miss_rtn_km: c.miss_rtn_km,
            fused_miss_distance_km: named.fused_miss_km,
            fused_observations: named.fused_observations,
            severity: match c.miss_distance_km {
                d if d < 1.0 => "high",
                d if d < 5.0 => "medium",
                _ => "low",
            },
            raised_at: unix_now(),
        }
    }
}

/// The `alert_emitter` operator.
pub fn alert_emitter(
    faults: FaultInjection,
) -> impl OperatorFactory<NamedConjunction, Arc<ConjunctionAlert>> {
    move |mut ctx: OperatorContext<NamedConjunction, Arc<ConjunctionAlert>>| {
        let faults = faults.clone();
        async move {
            while let Some(conjunction) = ctx.input.recv().await {
                if let Err(e) = faults.check("alert_emitter") {
                    ctx.input.give_back(vec![conjunction]);
                    return Err(e);
                }
                let alert = ConjunctionAlert::from_conjunction(&conjunction);
                tracing::warn!(
                    alert_id = %alert.alert_id,
                    name_a = alert.name_a.as_deref().unwrap_or("-"),
                    name_b = alert.name_b.as_deref().unwrap_or("-"),
                    miss_distance_km = alert.miss_distance_km,
                    tca = %alert.tca_utc,
                    "conjunction alert"
                );
                ctx.output.send(Arc::new(alert)).await?;
            }
            Ok(())
        }
    }
}
