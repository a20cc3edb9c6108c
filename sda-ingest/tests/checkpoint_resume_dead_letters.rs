//! A `kill -9` after a dead letter was written and before the next checkpoint: the resumed run
//! replays that dead letter's input from the checkpoint, finds its `dead_letter_id` already in
//! `dead_letter.jsonl`, and does not write it again. The file ends up with the dead letters of
//! one clean run, each once, and the resumed run's summary counts the skipped ones as already
//! written (and as duplicates of their source, so that each source still balances).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::dead_letters::{assert_accounting, ids, replay_position, unique_ids};
use common::service::Service;
use common::wait_until;
use sda_orchestrator::checkpoint::{CheckpointStore, StoredCheckpoint};

const LIMIT: Duration = Duration::from_secs(60);

/// The service on the simulator's in-process replay (replayable), into `out`.
fn service(out: &Path, extra: &[&str]) -> Service {
    Service::new()
        .args(["--transport", "inprocess", "--log-format", "json", "--out"])
        .args([out])
        .args(extra)
}

/// Dead letters per source.
fn per_source(ids: &[String]) -> BTreeMap<String, u64> {
    let mut count = BTreeMap::new();
    for id in ids {
        let source = id.split('/').next().unwrap_or_default().to_owned();
        *count.entry(source).or_insert(0) += 1;
    }
    count
}

/// The dead letters of `ids` whose message is at or after its source's position in
/// `checkpoint`: what a run resumed from it replays.
fn after<'a>(ids: &'a [String], checkpoint: &StoredCheckpoint) -> Vec<&'a String> {
    ids.iter()
        .filter(|id| {
            let (source, pass, index) = replay_position(id).expect("a replayable source's id");
            assert_eq!(pass, 0, "{id}: one pass");
            let position: u64 = checkpoint.position(&source).unwrap().unwrap_or(0);
            index >= position
        })
        .collect()
}

#[test]
fn a_dead_letter_written_after_the_last_checkpoint_is_not_written_again_on_resume() {
    // The reference: one clean pass, as fast as it goes, alongside.
    let reference = tempfile::tempdir().unwrap();
    let clean = service(reference.path(), &["--rate", "40", "--passes", "1"]).spawn();

    // The stream takes about 9 s at the base rate, its dead letters spread over it; a
    // checkpoint completes every 2 s.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let store = CheckpointStore::new(out.join("checkpoints"));
    let first = service(
        out,
        &[
            "--rate",
            "1",
            "--checkpoint-interval",
            "2",
            "--duration",
            "60",
        ],
    )
    .spawn();
    // The kill comes as soon as the file holds a dead letter that the latest complete
    // checkpoint does not cover, long before the next one (2 s later).
    wait_until(
        "a dead letter written after a complete checkpoint",
        LIMIT,
        || match store.latest() {
            Ok(Some(checkpoint)) => !after(&ids(out), &checkpoint).is_empty(),
            // None yet, or one being written or removed as we read: look again.
            _ => false,
        },
    );
    first.signal("KILL");
    assert_eq!(first.wait().code(), None, "ended by the kill");

    // The dead letters the resumed run replays, against the checkpoint it resumes from.
    let at_kill = ids(out);
    let checkpoint = store.latest().unwrap().expect("a complete checkpoint");
    let replayed = after(&at_kill, &checkpoint);
    assert!(
        !replayed.is_empty(),
        "the kill came after a dead letter and before the next checkpoint \
         (checkpoint {}, dead letters {at_kill:?})",
        checkpoint.id()
    );

    // The resumed run goes through the rest of the stream and ends by itself.
    let resumed = service(out, &["--rate", "40", "--passes", "1", "--resume"]).run();
    assert_eq!(resumed.code(), Some(0), "{}", resumed.stderr);
    let clean = clean.wait();
    assert_eq!(clean.code(), Some(0), "{}", clean.stderr);

    let want = unique_ids(reference.path());
    assert!(want.len() >= 10, "the scenario dead-letters: {want:?}");
    assert_eq!(unique_ids(out), want, "each dead letter once, none missing");
    let end = ids(out);
    assert_eq!(end[..at_kill.len()], at_kill[..], "the file was continued");

    // The resumed run counts what it wrote; the replayed dead letters it skipped are already
    // written (with the audit records and alerts it skipped), and duplicates of their source.
    let summary = resumed.summary();
    assert_accounting(&summary);
    let (at_kill_by_source, end_by_source) = (per_source(&at_kill), per_source(&end));
    let mut replayed_by_source = BTreeMap::new();
    for id in &replayed {
        *replayed_by_source
            .entry(id.split('/').next().unwrap().to_owned())
            .or_insert(0u64) += 1;
    }
    for (source, s) in summary["sources"].as_object().unwrap() {
        let n = |key: &str| s[key].as_u64().unwrap();
        assert_eq!(n("suppressed"), 0, "{source}: {summary}");
        let (before, after) = (
            at_kill_by_source.get(source).copied().unwrap_or(0),
            end_by_source.get(source).copied().unwrap_or(0),
        );
        assert_eq!(
            n("dead_lettered"),
            after - before,
            "{source}: the resumed run wrote only what the file lacked: {summary}"
        );
        assert!(
            n("duplicates") >= replayed_by_source.get(source).copied().unwrap_or(0),
            "{source}: {summary}"
        );
    }
    let already_written = summary["already_written"].as_u64().unwrap();
    assert!(
        already_written >= replayed.len() as u64,
        "{already_written} already written, {} dead letters replayed: {summary}",
        replayed.len()
    );
}
