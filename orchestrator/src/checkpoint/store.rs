//! The checkpoint directory: one folder per checkpoint, a manifest that marks it complete, and
//! the atomic, durable writes that make a crash leave either the whole checkpoint or none of it.
//!
//! ```text
//! DIRECTORY/
//!   chk-00000000000000000042/
//!     state-3-0.json        one file per registered state (vertex 3's first state)
//!     manifest.json         written last: the checkpoint is complete once it exists
//! ```
//!
//! Durability is done by hand with the standard library, in the order that makes the manifest
//! the commit point: every state file is written and `fsync`ed, the checkpoint's folder is
//! `fsync`ed (so their names are durable), the manifest is written to a temporary name,
//! `fsync`ed and renamed into place, and the folder and its parent are `fsync`ed again (so the
//! rename is durable). A crash at any point leaves a folder without a manifest, which is not a
//! checkpoint and is removed by the next completed one. No crate is needed for a sequence this
//! short, and the ones made for atomic file writes do not `fsync` the directory after the
//! rename, which is the step that makes the rename survive a power loss.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::CheckpointError;

/// The manifest's name inside a checkpoint's folder.
const MANIFEST: &str = "manifest.json";
/// The manifest's format version.
const FORMAT: u32 = 1;

/// The manifest of one complete checkpoint, as written to `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) id: u64,
    pub(crate) started_unix_ms: u64,
    pub(crate) completed_unix_ms: u64,
    /// The topology fingerprint of the graph that took it.
    pub(crate) fingerprint: String,
    /// Each source's position, by name (`null` for a source that records none).
    pub(crate) positions: BTreeMap<String, Option<serde_json::Value>>,
    /// Each vertex's states, by vertex name, then by state key.
    pub(crate) states: BTreeMap<String, BTreeMap<String, StateFile>>,
}

/// Where one state's snapshot is, and how large it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub(crate) file: String,
    pub(crate) bytes: u64,
}

/// One vertex's states in a [`Snapshot`]: its index (for the file names), its name, and its
/// serialized states by key.
pub(crate) type VertexStates = (usize, String, Vec<(String, Vec<u8>)>);

/// The data of one checkpoint to be written: positions by source, states by vertex (with the
/// vertex's index for the file names).
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) id: u64,
    pub(crate) started_unix_ms: u64,
    pub(crate) completed_unix_ms: u64,
    pub(crate) fingerprint: String,
    pub(crate) positions: BTreeMap<String, Option<serde_json::Value>>,
    pub(crate) states: Vec<VertexStates>,
}

/// A checkpoint directory, to list and read the checkpoints in it.
///
/// The graph writes it (see [`CheckpointConfig`](super::CheckpointConfig)); this handle reads
/// it, for tools and tests that look at what a checkpoint holds. A checkpoint is **complete**
/// once its manifest is in place; a folder without one (a checkpoint interrupted by a crash) is
/// not listed.
///
/// # Examples
///
/// ```
/// use sda_orchestrator::checkpoint::CheckpointStore;
///
/// let directory = std::env::temp_dir().join(format!("sda-store-doc-{}", std::process::id()));
/// let store = CheckpointStore::new(&directory);
/// assert_eq!(store.complete()?, Vec::<u64>::new()); // a missing directory holds none
/// assert!(store.latest()?.is_none());
/// # Ok::<(), sda_orchestrator::checkpoint::CheckpointError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStore {
    directory: PathBuf,
}

/// One complete checkpoint, read back from its directory: the positions of the sources and the
/// states of the operators and sinks, as the graph recorded them.
///
/// # Examples
///
/// See [`CheckpointStore`] and the crate's guide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    id: u64,
    started_unix_ms: u64,
    completed_unix_ms: u64,
    fingerprint: String,
    positions: BTreeMap<String, Option<serde_json::Value>>,
    states: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    size_bytes: u64,
}

fn io_error(path: &Path, source: std::io::Error) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The folder name of checkpoint `id`: zero-padded, so that names sort as ids do.
fn folder_name(id: u64) -> String {
    format!("chk-{id:020}")
}

fn parse_folder(name: &str) -> Option<u64> {
    name.strip_prefix("chk-")?.parse().ok()
}

/// Writes `bytes` to `path` and `fsync`s the file.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let mut file = File::create(path).map_err(|e| io_error(path, e))?;
    file.write_all(bytes).map_err(|e| io_error(path, e))?;
    file.sync_all().map_err(|e| io_error(path, e))
}

/// `fsync`s a directory, so that the names created, removed or renamed in it are durable.
fn sync_dir(path: &Path) -> Result<(), CheckpointError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| io_error(path, e))
}

impl CheckpointStore {
    /// A handle on the checkpoints in `directory` (which need not exist yet).
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        CheckpointStore {
            directory: directory.into(),
        }
    }

    /// The directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// Every checkpoint folder's id, complete or not, ascending.
    fn folders(&self) -> Result<Vec<(u64, bool)>, CheckpointError> {
        let entries = match fs::read_dir(&self.directory) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&self.directory, e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(&self.directory, e))?;
            let Some(id) = entry.file_name().to_str().and_then(parse_folder) else {
                continue;
            };
            found.push((id, entry.path().join(MANIFEST).is_file()));
        }
        found.sort_unstable();
        Ok(found)
    }

    /// The ids of the complete checkpoints, oldest first.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Io`] when the directory exists but cannot be read.
    pub fn complete(&self) -> Result<Vec<u64>, CheckpointError> {
        Ok(self
            .folders()?
            .into_iter()
            .filter_map(|(id, complete)| complete.then_some(id))
            .collect())
    }

    /// The id the next checkpoint written here takes: one more than any folder's, complete or
    /// not, so that a new checkpoint never reuses a folder.
    pub(crate) fn next_id(&self) -> Result<u64, CheckpointError> {
        Ok(self.folders()?.last().map_or(1, |(id, _)| id + 1))
    }

    /// Reads checkpoint `id`: its manifest and every state file it names.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Io`] when a file cannot be read (a checkpoint that is not there
    /// included), [`CheckpointError::Corrupt`] when the manifest or a state file is not what
    /// the graph writes.
    pub fn load(&self, id: u64) -> Result<StoredCheckpoint, CheckpointError> {
        let folder = self.directory.join(folder_name(id));
        let path = folder.join(MANIFEST);
        let bytes = fs::read(&path).map_err(|e| io_error(&path, e))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if manifest.format != FORMAT || manifest.id != id {
            return Err(CheckpointError::Corrupt {
                path,
                reason: format!(
                    "format {} id {} where format {FORMAT} id {id} was expected",
                    manifest.format, manifest.id
                ),
            });
        }
        let mut size_bytes = bytes.len() as u64;
        let mut states = BTreeMap::new();
        for (vertex, files) in &manifest.states {
            let mut loaded = BTreeMap::new();
            for (key, state) in files {
                let path = folder.join(&state.file);
                let data = fs::read(&path).map_err(|e| io_error(&path, e))?;
                if data.len() as u64 != state.bytes {
                    return Err(CheckpointError::Corrupt {
                        path,
                        reason: format!("{} bytes where {} were written", data.len(), state.bytes),
                    });
                }
                size_bytes += state.bytes;
                loaded.insert(key.clone(), data);
            }
            states.insert(vertex.clone(), loaded);
        }
        Ok(StoredCheckpoint {
            id,
            started_unix_ms: manifest.started_unix_ms,
            completed_unix_ms: manifest.completed_unix_ms,
            fingerprint: manifest.fingerprint,
            positions: manifest.positions,
            states,
            size_bytes,
        })
    }

    /// The newest complete checkpoint that reads back whole, or `None` when there is none. A
    /// newer one that does not read back (a disk fault) is skipped with a warning in the log.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Io`] when the directory exists but cannot be read.
    pub fn latest(&self) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        for id in self.complete()?.into_iter().rev() {
            match self.load(id) {
                Ok(checkpoint) => return Ok(Some(checkpoint)),
                Err(error) => tracing::warn!(
                    target: "sda_orchestrator::checkpoint",
                    checkpoint = id,
                    %error,
                    "checkpoint {id} does not read back; trying the one before it"
                ),
            }
        }
        Ok(None)
    }

    /// Writes one checkpoint durably (see the module documentation); returns its size in bytes.
    pub(crate) fn write(&self, snapshot: &Snapshot) -> Result<u64, CheckpointError> {
        fs::create_dir_all(&self.directory).map_err(|e| io_error(&self.directory, e))?;
        let folder = self.directory.join(folder_name(snapshot.id));
        if folder.exists() {
            // A folder of this id without a manifest: left by a crash; it is no checkpoint.
            fs::remove_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
        }
        fs::create_dir(&folder).map_err(|e| io_error(&folder, e))?;
        let mut size = 0;
        let mut states = BTreeMap::new();
        for (index, vertex, entries) in &snapshot.states {
            let mut files = BTreeMap::new();
            for (n, (key, bytes)) in entries.iter().enumerate() {
                let file = format!("state-{index}-{n}.json");
                write_synced(&folder.join(&file), bytes)?;
                size += bytes.len() as u64;
                files.insert(
                    key.clone(),
                    StateFile {
                        file,
                        bytes: bytes.len() as u64,
                    },
                );
            }
            states.insert(vertex.clone(), files);
        }
        sync_dir(&folder)?;
        let manifest = Manifest {
            format: FORMAT,
            id: snapshot.id,
            started_unix_ms: snapshot.started_unix_ms,
            completed_unix_ms: snapshot.completed_unix_ms,
            fingerprint: snapshot.fingerprint.clone(),
            positions: snapshot.positions.clone(),
            states,
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| CheckpointError::Corrupt {
            path: folder.join(MANIFEST),
            reason: e.to_string(),
        })?;
        let temporary = folder.join(".manifest.json.tmp");
        write_synced(&temporary, &bytes)?;
        let path = folder.join(MANIFEST);
        fs::rename(&temporary, &path).map_err(|e| io_error(&path, e))?;
        sync_dir(&folder)?;
        sync_dir(&self.directory)?;
        Ok(size + bytes.len() as u64)
    }

    /// Removes every complete checkpoint but the newest `keep`, and every folder without a
    /// manifest older than `written` (checkpoints interrupted by a crash, or abandoned while
    /// being written). Called after checkpoint `written` completes; a newer folder without a
    /// manifest may be a checkpoint being written now, and is left alone.
    pub(crate) fn prune(&self, keep: usize, written: u64) -> Result<(), CheckpointError> {
        let folders = self.folders()?;
        let complete: Vec<u64> = folders.iter().filter(|f| f.1).map(|f| f.0).collect();
        let keep_from = complete.len().saturating_sub(keep.max(1));
        let mut removed = false;
        for (id, is_complete) in folders {
            let old = is_complete && complete[..keep_from].contains(&id);
            if old || (!is_complete && id < written) {
                let folder = self.directory.join(folder_name(id));
                fs::remove_dir_all(&folder).map_err(|e| io_error(&folder, e))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.directory)?;
        }
        Ok(())
    }
}

impl StoredCheckpoint {
    /// The checkpoint's id (ids increase by one per checkpoint started).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When it was started, in milliseconds since the Unix epoch.
    pub fn started_unix_ms(&self) -> u64 {
        self.started_unix_ms
    }

    /// When it completed, in milliseconds since the Unix epoch.
    pub fn completed_unix_ms(&self) -> u64 {
        self.completed_unix_ms
    }

    /// The topology fingerprint (hexadecimal) of the graph that took it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The bytes its files take: the manifest and every state file.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// The names of the sources it records a position for (`None` for a source that recorded
    /// none).
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.positions.keys().map(String::as_str)
    }

    /// The names of the vertices it records states for.
    pub fn vertices(&self) -> impl Iterator<Item = &str> {
        self.states.keys().map(String::as_str)
    }

    /// The position source `source` had recorded when its barrier left it: `None` when the
    /// checkpoint has no position for it.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Decode`] when the position is not a `P`.
    pub fn position<P: DeserializeOwned>(
        &self,
        source: &str,
    ) -> Result<Option<P>, CheckpointError> {
        match self.positions.get(source) {
            Some(Some(value)) => {
                P::deserialize(value)
                    .map(Some)
                    .map_err(|e| CheckpointError::Decode {
                        what: format!("position of `{source}`"),
                        reason: e.to_string(),
                    })
            }
            _ => Ok(None),
        }
    }

    /// The state `vertex` registered with `ctx.state()` (key `state`), as it was when the
    /// checkpoint's barrier was aligned there: `None` when the checkpoint has none.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Decode`] when the state is not an `S`.
    pub fn state<S: DeserializeOwned>(&self, vertex: &str) -> Result<Option<S>, CheckpointError> {
        self.state_named(vertex, super::DEFAULT_STATE_KEY)
    }

    /// The state `vertex` registered under `key` (`ctx.state_named(key)`).
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Decode`] when the state is not an `S`.
    pub fn state_named<S: DeserializeOwned>(
        &self,
        vertex: &str,
        key: &str,
    ) -> Result<Option<S>, CheckpointError> {
        match self.states.get(vertex).and_then(|s| s.get(key)) {
            Some(bytes) => {
                serde_json::from_slice(bytes)
                    .map(Some)
                    .map_err(|e| CheckpointError::Decode {
                        what: format!("state `{key}` of `{vertex}`"),
                        reason: e.to_string(),
                    })
            }
            None => Ok(None),
        }
    }

    /// The raw states of `vertex`, by key, for restoring.
    pub(crate) fn raw_states(&self, vertex: &str) -> BTreeMap<String, Vec<u8>> {
        self.states.get(vertex).cloned().unwrap_or_default()
    }

    /// The raw position of `source`, for restoring.
    pub(crate) fn raw_position(&self, source: &str) -> Option<serde_json::Value> {
        self.positions.get(source).cloned().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sda-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn snapshot(id: u64) -> Snapshot {
        Snapshot {
            id,
            started_unix_ms: 1,
            completed_unix_ms: 2,
            fingerprint: "f".into(),
            positions: BTreeMap::from([("src".to_owned(), Some(serde_json::json!(id * 10)))]),
            states: vec![(
                1,
                "op".to_owned(),
                vec![("state".to_owned(), b"[1,2]".to_vec())],
            )],
        }
    }

    #[test]
    fn written_checkpoints_read_back_and_only_the_newest_are_kept() {
        let dir = scratch("keep");
        let store = CheckpointStore::new(&dir);
        for id in 1..=4 {
            store.write(&snapshot(id)).unwrap();
        }
        // An interrupted checkpoint: a folder without a manifest.
        fs::create_dir(dir.join(folder_name(0))).unwrap();
        // A newer one being written.
        fs::create_dir(dir.join(folder_name(5))).unwrap();
        assert_eq!(store.complete().unwrap(), [1, 2, 3, 4]);
        assert_eq!(store.next_id().unwrap(), 6);
        store.prune(2, 4).unwrap();
        assert_eq!(store.complete().unwrap(), [3, 4]);
        assert!(!dir.join(folder_name(0)).exists());
        assert!(dir.join(folder_name(5)).exists());
        let latest = store.latest().unwrap().unwrap();
        assert_eq!(latest.id(), 4);
        assert_eq!(latest.position::<u64>("src").unwrap(), Some(40));
        assert_eq!(latest.state::<Vec<u32>>("op").unwrap(), Some(vec![1, 2]));
        assert_eq!(latest.state::<Vec<u32>>("nobody").unwrap(), None);
        assert!(latest.position::<String>("src").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_checkpoint_that_does_not_read_back_is_skipped() {
        let dir = scratch("corrupt");
        let store = CheckpointStore::new(&dir);
        store.write(&snapshot(1)).unwrap();
        store.write(&snapshot(2)).unwrap();
        fs::write(dir.join(folder_name(2)).join("state-1-0.json"), b"[1").unwrap();
        assert!(matches!(
            store.load(2),
            Err(CheckpointError::Corrupt { .. })
        ));
        assert_eq!(store.latest().unwrap().map(|c| c.id()), Some(1));
        fs::remove_dir_all(&dir).unwrap();
    }
}
