//! BGREWRITEAOF: replaces the log's files by one new base, without stopping the engine for
//! more than a snapshot.
//!
//! As in Redis 7, under the engine lock the log moves on to a new incremental file (listed in
//! the manifest at once) and the dataset is snapshotted; a thread writes the snapshot as the
//! new base (`temp-rewriteaof-bg-<pid>.aof`, synced), renames it to the next base name, and
//! swaps the manifest (new base, the incremental file the log is in, the old files as
//! history), then deletes the old files. Every step leaves a directory that loads: before the
//! swap the old manifest still lists the old base and every incremental file; after it, the
//! new base and the one file written since the snapshot.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::base::{write_base, Snapshot};
use super::files::{base_name, Aof};
use super::manifest::{AofFile, FileKind, Manifest};
use super::writer::write_manifest;
use crate::rdb::file::WriteOptions;
use crate::rdb::save;
use crate::State;

/// What INFO persistence tells about rewrites, shared with the thread doing one.
#[derive(Debug)]
pub struct RewriteStatus {
    /// The rewrite running now: when it started.
    pub running_since: Option<Instant>,
    /// Set to abandon the running rewrite (the log was turned off).
    pub cancel: Option<Arc<AtomicBool>>,
    /// A rewrite must run as soon as possible (one failed while turning the log on).
    pub scheduled: bool,
    /// Whether the last rewrite succeeded (`aof_last_bgrewrite_status`).
    pub last_failed: bool,
    /// Seconds the last rewrite took (`aof_last_rewrite_time_sec`), -1 before the first.
    pub last_seconds: i64,
    /// Rewrites completed (`aof_rewrites`).
    pub completed: u64,
    /// Rewrites that failed in a row.
    pub consecutive_failures: u64,
    /// When the last rewrite failed.
    pub last_failure: Option<Instant>,
}

impl Default for RewriteStatus {
    fn default() -> Self {
        RewriteStatus {
            running_since: None,
            cancel: None,
            scheduled: false,
            last_failed: false,
            last_seconds: -1,
            completed: 0,
            consecutive_failures: 0,
            last_failure: None,
        }
    }
}

impl RewriteStatus {
    /// Whether automatic rewrites wait after failures, as Redis 7 does: after three failures
    /// in a row, one minute, doubling with each further failure up to an hour (BGREWRITEAOF
    /// by hand is never held back).
    pub fn backing_off(&self) -> bool {
        if self.consecutive_failures < 3 {
            return false;
        }
        let doublings = (self.consecutive_failures - 3).min(6) as u32;
        let wait = std::time::Duration::from_secs((60u64 << doublings).min(3600));
        self.last_failure.is_some_and(|at| at.elapsed() < wait)
    }
}

/// Why a rewrite did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// One is running (Redis's error text).
    InProgress,
    /// The directory could not be prepared.
    Io(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::InProgress => {
                f.write_str("Background append only file rewriting already in progress")
            }
            Refused::Io(e) => write!(f, "Can't rewrite the append only file: {e}"),
        }
    }
}

/// Where a rewrite writes: the AOF directory and its file name stem.
#[derive(Debug, Clone)]
pub struct Target {
    /// The AOF directory (`<dir>/<appenddirname>`).
    pub dir: PathBuf,
    /// `appendfilename`.
    pub filename: String,
}

impl Target {
    /// The manifest's file name: `<appendfilename>.manifest`.
    pub fn manifest_name(&self) -> String {
        format!("{}.manifest", self.filename)
    }

    /// The manifest's path.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(self.manifest_name())
    }
}

/// Starts a rewrite (under the engine lock). With the log open, it continues in a new
/// incremental file first; with the log off (BGREWRITEAOF with `appendonly no`, as Redis
/// allows), the directory gets a base and no incremental file.
pub fn start(state: &mut State, target: &Target) -> Result<(), Refused> {
    let status = state.persistence.rewrite.clone();
    if status.lock().running_since.is_some() {
        return Err(Refused::InProgress);
    }
    let paused = Instant::now();
    let log = state.persistence.log.clone();
    let (manifest, continues_in) = match &log {
        Some(aof) => {
            let incr = aof
                .continue_in_new_file()
                .map_err(|e| Refused::Io(e.to_string()))?;
            (aof.manifest(), Some(incr))
        }
        None => {
            std::fs::create_dir_all(&target.dir).map_err(|e| Refused::Io(e.to_string()))?;
            let on_disk = std::fs::read(target.manifest_path())
                .ok()
                .and_then(|t| Manifest::parse(&t).ok())
                .unwrap_or_default();
            (Arc::new(Mutex::new(on_disk)), None)
        }
    };
    let snapshot = Snapshot::take(state);
    state.persistence.pauses.record(paused);
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let mut s = status.lock();
        s.running_since = Some(Instant::now());
        s.cancel = Some(cancel.clone());
        s.scheduled = false;
    }
    let incremental_fsync = state.config.get("aof-rewrite-incremental-fsync") != Some("no");
    let job = Job {
        target: target.clone(),
        rdb_base: super::files::rdb_base(&state.config),
        snapshot,
        manifest,
        continues_in,
        log,
        incremental_fsync,
        cancel,
        status,
    };
    let spawned = std::thread::Builder::new()
        .name("rill-aof-rewrite".into())
        .spawn(move || job.run());
    if let Err(e) = spawned {
        let mut s = state.persistence.rewrite.lock();
        s.running_since = None;
        s.cancel = None;
        return Err(Refused::Io(e.to_string()));
    }
    Ok(())
}

/// A rewrite in progress, owned by its thread.
struct Job {
    target: Target,
    /// The base in RDB form with these options, or (None) as commands.
    rdb_base: Option<WriteOptions>,
    snapshot: Snapshot,
    /// The manifest to swap (the open log's, or the one on disk).
    manifest: Arc<Mutex<Manifest>>,
    /// The incremental file the log went on in when the snapshot was taken: it and the files
    /// after it stay; everything before it is in the new base.
    continues_in: Option<AofFile>,
    /// The open log, to tell it its new sizes.
    log: Option<Arc<Aof>>,
    incremental_fsync: bool,
    cancel: Arc<AtomicBool>,
    status: Arc<Mutex<RewriteStatus>>,
}

impl Job {
    fn run(self) {
        let temp = self
            .target
            .dir
            .join(format!("temp-rewriteaof-bg-{}.aof", std::process::id()));
        let result = match self.rdb_base {
            Some(options) => std::fs::File::create(&temp).and_then(|mut f| {
                let size = save::write_file(&mut f, &self.snapshot, options, crate::now_ms())?;
                f.sync_all()?;
                Ok(size)
            }),
            None => write_base(&self.snapshot, &temp, self.incremental_fsync),
        }
        .and_then(|size| self.swap(&temp, size));
        let cancelled = self.cancel.load(Ordering::Relaxed);
        if result.is_err() || cancelled {
            let _ = std::fs::remove_file(&temp);
        }
        let mut s = self.status.lock();
        let seconds = s.running_since.map_or(0, |t| t.elapsed().as_secs() as i64);
        s.running_since = None;
        s.cancel = None;
        s.last_seconds = seconds;
        match result {
            Ok(()) => {
                s.completed += 1;
                s.last_failed = false;
                s.consecutive_failures = 0;
            }
            Err(e) => {
                s.last_failed = true;
                s.consecutive_failures += 1;
                s.last_failure = Some(Instant::now());
                // A log turned on at run time has no listed files until its first rewrite
                // succeeds: try again.
                s.scheduled = self
                    .continues_in
                    .as_ref()
                    .is_some_and(|incr| !self.manifest.lock().incrs.contains(incr));
                eprintln!("Background AOF rewrite failed: {e}");
            }
        }
    }

    /// Renames the new base into place and writes the manifest that lists it.
    fn swap(&self, temp: &Path, base_size: u64) -> std::io::Result<()> {
        let mut manifest = self.manifest.lock();
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("the rewrite was cancelled"));
        }
        let seq = manifest.base.as_ref().map_or(0, |b| b.seq) + 1;
        let base = AofFile {
            name: base_name(&self.target.filename, seq, self.rdb_base.is_some()),
            seq,
            kind: FileKind::Base,
        };
        std::fs::rename(temp, self.target.dir.join(&base.name))?;
        let mut next = Manifest {
            base: Some(base),
            incrs: Vec::new(),
            history: manifest.history.clone(),
        };
        let kept_from = self
            .continues_in
            .as_ref()
            .and_then(|incr| manifest.incrs.iter().position(|f| f == incr));
        let (old_incrs, kept) = match kept_from {
            Some(at) => manifest.incrs.split_at(at),
            None => (manifest.incrs.as_slice(), &[][..]),
        };
        next.incrs = kept.to_vec();
        if kept_from.is_none() {
            // A log turned on at run time: its file is listed for the first time now.
            next.incrs.extend(self.continues_in.iter().cloned());
        }
        for old in manifest.base.iter().chain(old_incrs) {
            next.history.push(AofFile {
                kind: FileKind::History,
                ..old.clone()
            });
        }
        write_manifest(&self.target, &next)?;
        if let Some(log) = &self.log {
            log.rewritten(base_size);
        }
        // The old files are no longer listed as live: delete them, then drop them from the
        // manifest (a crash in between leaves names of missing history files, which loading
        // ignores).
        let live = |name: &str| next.base.iter().chain(&next.incrs).any(|f| f.name == name);
        for old in next.history.iter().filter(|f| !live(&f.name)) {
            let _ = std::fs::remove_file(self.target.dir.join(&old.name));
        }
        next.history.clear();
        write_manifest(&self.target, &next)?;
        *manifest = next;
        Ok(())
    }
}
