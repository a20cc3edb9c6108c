//! `alert_emitter`: turns a screened close approach into a conjunction alert record.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat};
use sda_ingest_core::orbit::conjunction::Conjunction;
use sda_orchestrator::{OperatorContext, OperatorFactory};
use serde::Serialize;

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
    /// Time of closest approach, UTC seconds since the Unix epoch.
    pub tca: f64,
    /// Time of closest approach, RFC 3339 UTC with milliseconds.
    pub tca_utc: String,
    /// Separation at closest approach, km.
    pub miss_distance_km: f64,
    /// Relative speed at closest approach, km/s.
    pub relative_speed_km_s: f64,
    /// `high` under 1 km, `medium` under 5 km, else `low`.
    pub severity: &'static str,
    /// When the alert was raised: UTC seconds since the Unix epoch.
    pub raised_at: f64,
}

impl ConjunctionAlert {
    /// The alert for `c`, raised now.
    pub fn from_conjunction(c: &Conjunction) -> ConjunctionAlert {
        let secs = c.tca.floor();
        let tca_utc = DateTime::from_timestamp(secs as i64, ((c.tca - secs) * 1e9) as u32)
            .map_or_else(String::new, |t| {
                t.to_rfc3339_opts(SecondsFormat::Millis, true)
            });
        ConjunctionAlert {
            alert_id: format!("CA-{}-{}-{}", c.a, c.b, secs as i64),
            object_a: c.a,
            object_b: c.b,
            tca: c.tca,
            tca_utc,
            miss_distance_km: c.miss_distance_km,
            relative_speed_km_s: c.relative_speed_km_s,
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
) -> impl OperatorFactory<Conjunction, Arc<ConjunctionAlert>> {
    move |mut ctx: OperatorContext<Conjunction, Arc<ConjunctionAlert>>| {
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
