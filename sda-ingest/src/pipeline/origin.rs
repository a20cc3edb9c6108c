//! Where a record came from, and the dead-letter id derived from it.
//!
//! Every dead letter carries a `dead_letter_id` that names the input it came from, so that the
//! dead-letter sink can continue its file idempotently (see
//! [`continuation`](crate::pipeline::sinks::continuation)): when the same input is read again
//! after a crash, its dead letter gets the same id and is not written twice.
//!
//! # The id
//!
//! `{source}/{scope}/{pass}/{index}/{part}`, for example `radar/replay/0/17/message`:
//!
//! * `source`: the stream that read the message (its sensor kind, as in the dead letter's
//!   `source`).
//! * `scope`, `pass`, `index`: the message's position in its source. `replay` when the source
//!   is replayable: the simulator's replay numbers its messages by pass and index in the
//!   stream, and a run resumed from a checkpoint replays them from the checkpointed position
//!   with the same numbers, so a replayed message gets the id it had before the crash. A live
//!   transport (the radar UDP listener, the ISL TCP reader, the optical HTTP poller) only counts
//!   what it received in this process, and what it reads after a restart is new input: its
//!   scope is `run-{nonce}`, a random number drawn once per process, so its ids never match a
//!   crashed run's and nothing it reads is mistaken for something already written.
//! * `part`: which part of the message the dead letter is about. `message`: the whole message
//!   did not decode; `record-{r}`: only the record at position `r` of the message did not (an
//!   optical page's record); `obs-{k}`: the `k`-th observation decoded from the message was
//!   rejected by `validate` (an invalid or a late record). A record has at most one dead
//!   letter, and the three parts never collide.
//!
//! # Why not the observation id
//!
//! An observation's id (`{sensor}/{sequence}`) does not name one input: a sensor's re-send
//! carries the id of the record it repeats, and a second replay pass re-sends every record, so
//! two dead letters that a run writes separately would share an id, and a continued file would
//! drop the second. The position is unique within a run and, for a replayable source, the same
//! in every run.
//!
//! # Scale-out
//!
//! The edge derives the id and publishes it inside the dead letter's JSON; the core writes that
//! JSON and continues its file by the id in it. A message JetStream redelivers to the core is
//! the same bytes, so it has the same id.
//!
//! # Accounting
//!
//! A resumed run reads the replayed message again (its source's `read`); the dead-letter sink
//! that skips its dead letter counts it in its source's `duplicates` (a re-send of a record
//! whose fate the file already holds, as a skipped observation is) and in `already_written`.
//! So `read = delivered + dead_lettered + duplicates + dropped` holds per source in the resumed
//! run, whose `dead_lettered` counts the dead letters it wrote (or suppressed).
//!
//! # Limits
//!
//! * A dead letter the rate limit suppressed has no line, so a replay may write it: the
//!   limiter's state is not in checkpoints. Replayed dead letters the file holds are skipped
//!   before the limit and do not use it up.
//! * A live transport that reads the same input again after a restart (the optical poller
//!   starts again from its first cursor) gives its dead letters new ids: they are written again
//!   (at least once), while its observations are skipped by their ids.
//! * A `late` dead letter depends on the watermark when the record arrived, not only on the
//!   input: a replay that arrives in a different order may find a different set late.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use sda_ingest_core::SensorKind;

/// Whether a message's position names the same input in another run of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The source is replayable: a resumed run reads the same message at the same position.
    Replay,
    /// The position counts what this process received: a restarted process reads new input.
    Live,
}

/// A record's position: the message it was decoded from, and which observation of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Whether the position holds across runs.
    pub scope: Scope,
    /// The replay pass of the message (0 for a live source).
    pub pass: u32,
    /// The message's position in its source within the pass.
    pub index: u64,
    /// Which observation decoded from the message this is, from 0.
    pub observation: u32,
}

/// Which part of a message a dead letter is about (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole message did not decode.
    Message,
    /// Only the record at this position of the message did not decode.
    Record(usize),
    /// The observation decoded from the message at [`Origin::observation`] was rejected.
    Observation,
}

impl Origin {
    /// The origin of a record that did not come from a source's position (an observation the
    /// core received from the edge, a test's): a position of its own, never seen before in
    /// this process or any other, so its dead letter is never mistaken for one already written.
    pub fn unplaced() -> Origin {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Origin {
            scope: Scope::Live,
            // Live sources always read pass 0: this pass is theirs alone.
            pass: u32::MAX,
            index: NEXT.fetch_add(1, Ordering::Relaxed),
            observation: 0,
        }
    }

    /// The dead-letter id of `part` of the message at this position of `source`.
    pub fn dead_letter_id(&self, source: SensorKind, part: Part) -> String {
        let mut id = String::with_capacity(64);
        id.push_str(source.as_str());
        let _ = match self.scope {
            Scope::Replay => write!(id, "/replay"),
            Scope::Live => write!(id, "/run-{:016x}", run_nonce()),
        };
        let _ = write!(id, "/{}/{}/", self.pass, self.index);
        let _ = match part {
            Part::Message => write!(id, "message"),
            Part::Record(r) => write!(id, "record-{r}"),
            Part::Observation => write!(id, "obs-{}", self.observation),
        };
        id
    }
}

/// This process's random number, which scopes the positions of live sources to it.
fn run_nonce() -> u64 {
    static NONCE: OnceLock<u64> = OnceLock::new();
    *NONCE.get_or_init(|| fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(scope: Scope, pass: u32, index: u64, observation: u32) -> Origin {
        Origin {
            scope,
            pass,
            index,
            observation,
        }
    }

    #[test]
    fn a_replayed_position_has_the_same_id_in_any_run() {
        let id = at(Scope::Replay, 1, 17, 2).dead_letter_id(SensorKind::Optical, Part::Record(3));
        assert_eq!(id, "optical/replay/1/17/record-3");
        assert_eq!(
            at(Scope::Replay, 0, 5, 2).dead_letter_id(SensorKind::Radar, Part::Observation),
            "radar/replay/0/5/obs-2"
        );
        assert_eq!(
            at(Scope::Replay, 0, 5, 0).dead_letter_id(SensorKind::Radar, Part::Message),
            "radar/replay/0/5/message"
        );
    }

    #[test]
    fn a_live_position_is_scoped_to_this_process() {
        let live = at(Scope::Live, 0, 17, 0).dead_letter_id(SensorKind::Isl, Part::Message);
        assert_eq!(
            live,
            format!("isl/run-{:016x}/0/17/message", run_nonce()),
            "the same nonce for every live id of one process"
        );
        assert_ne!(
            live,
            at(Scope::Replay, 0, 17, 0).dead_letter_id(SensorKind::Isl, Part::Message)
        );
    }

    #[test]
    fn unplaced_origins_never_repeat() {
        let (a, b) = (Origin::unplaced(), Origin::unplaced());
        assert_ne!(
            a.dead_letter_id(SensorKind::Radar, Part::Observation),
            b.dead_letter_id(SensorKind::Radar, Part::Observation)
        );
    }
}
