//! Snapshots to `<dir>/<dbfilename>`: SAVE (in the command, as Redis blocks for it), BGSAVE
//! (a copy-on-write snapshot taken under the engine lock, written by a thread), `save`
//! points checked by the cron, and loading the file at start.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::file::{self, WriteOptions};
use crate::aof::base::{Snapshot, INCREMENTAL_FSYNC_BYTES};
use crate::{Engine, State};

/// What INFO persistence and LASTSAVE tell about snapshots, shared with a saving thread.
#[derive(Debug)]
pub struct SaveStatus {
    /// The background save running now: when it started, and the dirty counter then.
    pub running: Option<(Instant, u64)>,
    /// A BGSAVE SCHEDULE waits for the running AOF rewrite.
    pub scheduled: bool,
    /// Unix seconds of the last successful save (LASTSAVE); the start time before any.
    pub last_save: u64,
    /// Whether the last background save failed: shared with [`Persistence`]'s copy, which
    /// every write reads (stop-writes-on-bgsave-error) without taking this status's lock.
    ///
    /// [`Persistence`]: crate::aof::Persistence
    failed: Arc<AtomicBool>,
    /// Seconds the last background save took; -1 before any.
    pub last_seconds: i64,
    /// Saves completed (`rdb_saves`).
    pub saves: u64,
    /// The dirty counter as of the last successful save (`rdb_changes_since_last_save` is
    /// what it grew by since).
    pub dirty_at_save: u64,
    /// When the last save attempt started (save points wait 5 s after a failure, as Redis).
    pub last_attempt: Option<Instant>,
    /// What the last load of an RDB file (or AOF base in RDB form) put in.
    pub last_load: LoadCounts,
    /// SHUTDOWN already decided about saving (it saved, or NOSAVE): the host does not save
    /// again on its way out.
    pub exit_settled: bool,
}

impl SaveStatus {
    /// Whether the last background save failed.
    pub fn last_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Records how the last save ended.
    fn set_last_failed(&mut self, failed: bool) {
        self.failed.store(failed, Ordering::Relaxed);
    }

    /// The flag [`SaveStatus::last_failed`] reads, to read without this status's lock.
    pub fn failure_flag(&self) -> Arc<AtomicBool> {
        self.failed.clone()
    }

    /// A status for a server started at `started_s` (Unix seconds).
    pub fn new(started_s: u64) -> SaveStatus {
        SaveStatus {
            running: None,
            scheduled: false,
            last_save: started_s,
            failed: Arc::default(),
            last_seconds: -1,
            saves: 0,
            dirty_at_save: 0,
            last_attempt: None,
            exit_settled: false,
            last_load: LoadCounts::default(),
        }
    }
}

/// `<dir>/<dbfilename>`.
pub fn path(config: &crate::Config) -> PathBuf {
    PathBuf::from(config.get("dir").unwrap_or("."))
        .join(config.get("dbfilename").unwrap_or("dump.rdb"))
}

/// How snapshots (and, with `aof_base`, AOF bases in RDB form) are written under `config`.
pub fn options(config: &crate::Config, aof_base: bool) -> WriteOptions {
    WriteOptions {
        version: super::Version::from_config(config),
        compress: config.get("rdbcompression") != Some("no"),
        checksum: config.get("rdbchecksum") != Some("no"),
        aof_base,
        incremental_fsync: config.get(if aof_base {
            "aof-rewrite-incremental-fsync"
        } else {
            "rdb-save-incremental-fsync"
        }) != Some("no"),
    }
}

/// Writes `snapshot` as an RDB file into `file` (synced every 4 MB with incremental fsync,
/// so the final sync does not stall on a backlog of dirty pages). Returns its size.
pub fn write_file(
    file: &mut File,
    snapshot: &Snapshot,
    options: WriteOptions,
    now_ms: u64,
) -> std::io::Result<u64> {
    let mut since_sync = 0u64;
    file::write(snapshot, options, now_ms, &mut |chunk| {
        file.write_all(chunk)?;
        since_sync += chunk.len() as u64;
        if options.incremental_fsync && since_sync >= INCREMENTAL_FSYNC_BYTES {
            file.sync_data()?;
            since_sync = 0;
        }
        Ok(())
    })
}

/// SAVE: writes the file now, in the caller's thread (the engine waits, as Redis does).
pub fn save_now(state: &mut State, now_ms: u64) -> Result<(), String> {
    if state.persistence.save.lock().running.is_some() {
        return Err("Background save already in progress".into());
    }
    let snapshot = Snapshot::take(state);
    let result = write_snapshot(
        &path(&state.config),
        &snapshot,
        options(&state.config, false),
        now_ms,
    )
    .map_err(|e| e.to_string());
    let mut s = state.persistence.save.lock();
    s.last_attempt = Some(Instant::now());
    if result.is_ok() {
        s.last_save = now_ms / 1000;
        s.saves += 1;
        s.dirty_at_save = state.stats.dirty;
        s.set_last_failed(false);
    }
    result
}

/// BGSAVE: a snapshot now, written by a thread.
pub fn start_background(state: &mut State, now_ms: u64) -> Result<(), String> {
    let status = state.persistence.save.clone();
    if status.lock().running.is_some() {
        return Err("Background save already in progress".into());
    }
    let paused = Instant::now();
    let snapshot = Snapshot::take(state);
    state.persistence.pauses.record(paused);
    let (target, opts) = (path(&state.config), options(&state.config, false));
    let dirty = state.stats.dirty;
    {
        let mut s = status.lock();
        s.running = Some((Instant::now(), dirty));
        s.scheduled = false;
        s.last_attempt = Some(Instant::now());
    }
    let thread_status = status.clone();
    let spawned = std::thread::Builder::new()
        .name("rill-bgsave".into())
        .spawn(move || write_in_background(snapshot, target, opts, now_ms, thread_status));
    if let Err(e) = spawned {
        status.lock().running = None;
        return Err(e.to_string());
    }
    Ok(())
}

fn write_in_background(
    snapshot: Snapshot,
    target: PathBuf,
    opts: WriteOptions,
    now_ms: u64,
    status: Arc<Mutex<SaveStatus>>,
) {
    let result = write_snapshot(&target, &snapshot, opts, now_ms);
    let mut s = status.lock();
    let (started, dirty) = s.running.take().unwrap_or((Instant::now(), 0));
    s.last_seconds = started.elapsed().as_secs() as i64;
    match result {
        Ok(()) => {
            s.last_save = now_ms / 1000;
            s.saves += 1;
            s.dirty_at_save = dirty;
            s.set_last_failed(false);
        }
        Err(e) => {
            s.set_last_failed(true);
            eprintln!("Background saving error: {e}");
        }
    }
}

/// Replaces the snapshot file (Redis's `temp-<pid>.rdb`, then a rename).
fn write_snapshot(
    path: &std::path::Path,
    snapshot: &Snapshot,
    options: WriteOptions,
    now_ms: u64,
) -> std::io::Result<()> {
    let temp = format!("temp-{}.rdb", std::process::id());
    crate::aof::writer::replace_file_with(path, &temp, |f| {
        write_file(f, snapshot, options, now_ms).map(drop)
    })
}

/// Whether `save` points are configured.
pub fn has_save_points(config: &crate::Config) -> bool {
    !config.get("save").unwrap_or("").trim().is_empty()
}

/// Whether a `save` point is due: `changes` writes within `seconds` since the last save
/// (after a failure, retried no sooner than 5 seconds later, as Redis does).
pub fn save_point_due(state: &State, now_ms: u64) -> bool {
    let s = state.persistence.save.lock();
    if s.running.is_some() {
        return false;
    }
    if s.last_failed() && s.last_attempt.is_some_and(|t| t.elapsed().as_secs() < 5) {
        return false;
    }
    let changes = state.stats.dirty.saturating_sub(s.dirty_at_save);
    let elapsed = (now_ms / 1000).saturating_sub(s.last_save);
    let points: Vec<u64> = state
        .config
        .get("save")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    points
        .chunks(2)
        .any(|p| p.len() == 2 && changes >= p[1] && elapsed >= p[0] && p[1] > 0)
}

/// Loads `<dir>/<dbfilename>` into an empty engine, if the file exists: the number of keys
/// loaded, or why the file could not be read.
pub fn load(engine: &Engine) -> Result<Option<usize>, String> {
    let config = engine.config();
    let target = path(&config);
    let data = match std::fs::read(&target) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", target.display())),
    };
    let options = file::LoadOptions::from_config(&config);
    drop(config);
    let (loaded, _) =
        file::decode(&data, options).map_err(|e| format!("{}: {e}", target.display()))?;
    let counts = apply(engine, loaded, &target.display().to_string(), false);
    Ok(Some(counts.loaded))
}

/// What a load put into the engine (INFO's `rdb_last_load_keys_loaded`,
/// `rdb_last_load_keys_expired`, and Rill's `rdb_last_load_keys_skipped`).
#[derive(Debug, Default, Clone, Copy)]
pub struct LoadCounts {
    /// Keys loaded.
    pub loaded: usize,
    /// Keys already expired, left out (a snapshot; an AOF base keeps them, as Redis does,
    /// since the commands after it may still refer to them).
    pub expired: usize,
    /// Keys of types Rill does not hold, left out (`rdb-unsupported-types skip`).
    pub skipped: usize,
}

/// Redis's `key-load-delay` (a testing directive): a pause after each key or command
/// loaded, in microseconds when positive, nanoseconds (a busy wait) when negative.
pub fn load_delay(delay: i64) {
    match delay {
        0 => {}
        d if d > 0 => std::thread::sleep(std::time::Duration::from_micros(d as u64)),
        d => {
            let until = Instant::now() + std::time::Duration::from_nanos(d.unsigned_abs());
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    }
}

/// Most skipped keys named one by one in the log; the rest are counted.
const SKIPPED_LOGGED: usize = 20;

/// Puts what an RDB file held (a snapshot, or an AOF base in RDB form: `aof_base`) into
/// `engine`, says in the log which keys were left out, and records the counts for INFO.
pub fn apply(engine: &Engine, loaded: file::Loaded, source: &str, aof_base: bool) -> LoadCounts {
    for skipped in loaded.skipped.iter().take(SKIPPED_LOGGED) {
        eprintln!("Skipped {skipped} while loading {source}: Rill does not hold this type yet");
    }
    if loaded.skipped.len() > SKIPPED_LOGGED {
        eprintln!(
            "... and {} more keys of types Rill does not hold yet",
            loaded.skipped.len() - SKIPPED_LOGGED
        );
    }
    let mut counts = LoadCounts {
        skipped: loaded.skipped.len(),
        ..LoadCounts::default()
    };
    let delay = engine.config().signed("key-load-delay");
    let now = crate::now_ms();
    for k in loaded.keys {
        if !aof_base && k.expiry.is_some_and(|at| at < now) {
            counts.expired += 1;
            continue;
        }
        load_delay(delay);
        let mut st = engine.shared.state.lock();
        let db = &mut st.keyspace.dbs[k.db];
        db.set(k.key.clone(), k.value, false);
        if let Some(at) = k.expiry {
            db.set_expiry(&k.key, at);
        }
        db.restore_access(&k.key, k.idle, k.freq, now);
        counts.loaded += 1;
    }
    engine.shared.state.lock().persistence.save.lock().last_load = counts;
    counts
}
