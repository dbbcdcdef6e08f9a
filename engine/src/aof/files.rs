//! The open log: its directory, manifest and file sizes, and the file changes are appended
//! to. Opened at start (loading what the directory holds) or at run time (CONFIG SET
//! appendonly yes: a rewrite writes the first base), closed by shutdown or `appendonly no`.

use std::fs::File;
use std::sync::Arc;

use parking_lot::Mutex;

use super::base::Snapshot;
use super::load::{load_dir, LoadError, LoadReport};
use super::manifest::{AofFile, FileKind, Manifest};
use super::rewrite::{self, Refused, Target};
use super::writer::{create_file, open_for_append, write_manifest, AofJournal, Fsync, LogWriter};
use crate::rdb::file::WriteOptions;
use crate::{Engine, State};

/// How to open the log: the `appendonly` directives.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory and file names.
    pub target: Target,
    /// `appendfsync`.
    pub fsync: Fsync,
    /// `aof-load-truncated`.
    pub load_truncated: bool,
    /// How bases are written: in RDB form with these options (`aof-use-rdb-preamble yes`),
    /// or as commands.
    pub rdb_base: Option<WriteOptions>,
}

impl Options {
    /// The options the configuration gives: `<dir>/<appenddirname>`, `appendfilename`,
    /// `appendfsync`, `aof-load-truncated`.
    pub fn from_config(config: &crate::Config) -> Options {
        let dir = std::path::Path::new(config.get("dir").unwrap_or("."))
            .join(config.get("appenddirname").unwrap_or("appendonlydir"));
        Options {
            target: Target {
                dir,
                filename: config
                    .get("appendfilename")
                    .unwrap_or("appendonly.aof")
                    .to_string(),
            },
            fsync: Fsync::from_config(config.get("appendfsync").unwrap_or("everysec")),
            load_truncated: config.get("aof-load-truncated") != Some("no"),
            rdb_base: rdb_base(config),
        }
    }
}

/// `aof-use-rdb-preamble yes`: bases are RDB files, written with these options.
pub fn rdb_base(config: &crate::Config) -> Option<WriteOptions> {
    (config.get("aof-use-rdb-preamble") != Some("no"))
        .then(|| crate::rdb::save::options(config, true))
}

/// The name Redis 7 gives an incremental file: `<name>.<seq>.incr.aof`.
pub fn incr_name(stem: &str, seq: u64) -> String {
    format!("{stem}.{seq}.incr.aof")
}

/// The name Redis 7 gives a base: `<name>.<seq>.base.rdb` in RDB form, `.base.aof` as
/// commands.
pub fn base_name(stem: &str, seq: u64, rdb: bool) -> String {
    let ext = if rdb { "rdb" } else { "aof" };
    format!("{stem}.{seq}.base.{ext}")
}

/// Sizes INFO reports and the automatic rewrite compares.
#[derive(Debug, Default)]
struct Sizes {
    /// The base file.
    base: u64,
    /// Listed incremental files before the one being appended to.
    earlier_incrs: u64,
    /// The whole log's size after the last load or rewrite (`aof_base_size`): growth is
    /// measured from it.
    growth_base: u64,
}

/// An open append-only log.
#[derive(Debug)]
pub struct Aof {
    target: Target,
    writer: Arc<LogWriter>,
    manifest: Arc<Mutex<Manifest>>,
    /// The incremental file being appended to.
    current: Mutex<AofFile>,
    sizes: Mutex<Sizes>,
}

impl Aof {
    /// Opens the log at start-up, as Redis does with `appendonly yes`: loads the directory
    /// if it has a manifest (Redis's rules for torn and damaged files), or creates one; then
    /// every change is appended to its last incremental file.
    pub fn open(engine: &Engine, options: &Options) -> Result<LoadReport, LoadError> {
        let target = &options.target;
        let io = |e: std::io::Error| LoadError(format!("{}: {e}", target.dir.display()));
        std::fs::create_dir_all(&target.dir).map_err(io)?;
        remove_stale_temp_files(target);
        let mut report = if target.manifest_path().exists() {
            load_dir(
                engine,
                &target.dir,
                &target.manifest_name(),
                options.load_truncated,
            )?
        } else {
            LoadReport::default()
        };
        let mut manifest = std::mem::take(&mut report.manifest);
        let mut sizes = Sizes {
            growth_base: report.sizes.iter().sum(),
            ..Sizes::default()
        };
        if manifest.base.is_some() {
            sizes.base = report.sizes.first().copied().unwrap_or(0);
        }
        let (current, file, size) = match manifest.incrs.last().cloned() {
            Some(last) => {
                let cut = report
                    .truncated
                    .as_ref()
                    .filter(|(name, _)| *name == last.name)
                    .map(|(_, len)| *len);
                let (file, size) =
                    open_for_append(&target.dir.join(&last.name), cut).map_err(io)?;
                sizes.earlier_incrs = report
                    .sizes
                    .iter()
                    .sum::<u64>()
                    .saturating_sub(sizes.base + size);
                (last, file, size)
            }
            None => {
                // A new log, or a base alone (BGREWRITEAOF while the log was off): the
                // changes go to a new incremental file, listed before anything is written.
                if manifest.base.is_none() {
                    let base = AofFile {
                        name: base_name(&target.filename, 1, options.rdb_base.is_some()),
                        seq: 1,
                        kind: FileKind::Base,
                    };
                    let mut file = create_file(&target.dir.join(&base.name)).map_err(io)?;
                    if let Some(rdb) = options.rdb_base {
                        // An empty dataset in RDB form, as Redis writes its first base.
                        crate::rdb::save::write_file(
                            &mut file,
                            &Snapshot::empty(),
                            rdb,
                            crate::now_ms(),
                        )
                        .and_then(|_| file.sync_all())
                        .map_err(io)?;
                    }
                    manifest.base = Some(base);
                }
                let incr = AofFile {
                    name: incr_name(&target.filename, 1),
                    seq: 1,
                    kind: FileKind::Incr,
                };
                let file = create_file(&target.dir.join(&incr.name)).map_err(io)?;
                manifest.incrs.push(incr.clone());
                write_manifest(target, &manifest).map_err(io)?;
                (incr, file, 0)
            }
        };
        let aof = Arc::new(Aof {
            target: target.clone(),
            writer: LogWriter::new(file, size, options.fsync),
            manifest: Arc::new(Mutex::new(manifest)),
            current: Mutex::new(current),
            sizes: Mutex::new(sizes),
        });
        attach(&mut engine.shared.state.lock(), aof);
        Ok(report)
    }

    /// Turns the log on at run time (CONFIG SET appendonly yes), as Redis does: changes are
    /// appended from now on, to a new incremental file listed once a rewrite has written the
    /// base it follows; what the directory held before becomes history.
    pub fn enable(state: &mut State, options: &Options) -> Result<(), String> {
        if state.persistence.log.is_some() {
            return Ok(());
        }
        if state.persistence.rewrite.lock().running_since.is_some() {
            return Err(
                "a background AOF rewrite is in progress; turn the log on once it ends".into(),
            );
        }
        let target = &options.target;
        std::fs::create_dir_all(&target.dir).map_err(|e| e.to_string())?;
        remove_stale_temp_files(target);
        let manifest = match std::fs::read(target.manifest_path()) {
            Ok(text) => Manifest::parse(&text).map_err(|e| e.to_string())?,
            Err(_) => Manifest::default(),
        };
        let seq = manifest.incrs.last().map_or(0, |f| f.seq) + 1;
        let incr = AofFile {
            name: incr_name(&target.filename, seq),
            seq,
            kind: FileKind::Incr,
        };
        let file = create_file(&target.dir.join(&incr.name)).map_err(|e| e.to_string())?;
        let aof = Arc::new(Aof {
            target: target.clone(),
            writer: LogWriter::new(file, 0, options.fsync),
            manifest: Arc::new(Mutex::new(manifest)),
            current: Mutex::new(incr),
            sizes: Mutex::new(Sizes::default()),
        });
        attach(state, aof);
        match rewrite::start(state, target) {
            Ok(()) => Ok(()),
            Err(Refused::InProgress) => {
                state.persistence.rewrite.lock().scheduled = true;
                Ok(())
            }
            Err(e) => {
                Aof::disable(state);
                Err(e.to_string())
            }
        }
    }

    /// Turns the log off (CONFIG SET appendonly no, shutdown): a running rewrite is
    /// abandoned, and everything appended is written and synced.
    pub fn disable(state: &mut State) {
        let Some(aof) = state.persistence.log.take() else {
            return;
        };
        state.propagation.set_journal(None);
        state.keyspace.set_expiry_logging(false);
        if let Some(cancel) = &state.persistence.rewrite.lock().cancel {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        aof.writer.close();
    }

    /// Where the log's files are.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The writer of the incremental file.
    pub fn writer(&self) -> &Arc<LogWriter> {
        &self.writer
    }

    /// The manifest, shared with a running rewrite.
    pub(crate) fn manifest(&self) -> Arc<Mutex<Manifest>> {
        self.manifest.clone()
    }

    /// Goes on appending in a new incremental file (a rewrite starts; under the engine lock,
    /// so nothing is appended in between). The new file is listed at once when the current
    /// one is; a log turned on at run time lists its file with its first base.
    pub(crate) fn continue_in_new_file(&self) -> std::io::Result<AofFile> {
        let mut manifest = self.manifest.lock();
        let mut current = self.current.lock();
        let seq = current.seq.max(manifest.incrs.last().map_or(0, |f| f.seq)) + 1;
        let incr = AofFile {
            name: incr_name(&self.target.filename, seq),
            seq,
            kind: FileKind::Incr,
        };
        let file: File = create_file(&self.target.dir.join(&incr.name))?;
        let listed = manifest.incrs.contains(&current);
        let old_size = self.writer.file_size();
        self.writer.switch_to(file);
        if listed {
            let mut next = manifest.clone();
            next.incrs.push(incr.clone());
            write_manifest(&self.target, &next)?;
            *manifest = next;
            self.sizes.lock().earlier_incrs += old_size;
        } else {
            // A log turned on at run time whose first rewrite failed: its file was never
            // listed, and this rewrite's snapshot holds everything it had.
            let _ = std::fs::remove_file(self.target.dir.join(&current.name));
        }
        *current = incr.clone();
        Ok(incr)
    }

    /// A rewrite swapped the manifest: the base is `base_size` bytes, and the file being
    /// appended to is the only incremental one.
    pub(crate) fn rewritten(&self, base_size: u64) {
        let mut sizes = self.sizes.lock();
        sizes.base = base_size;
        sizes.earlier_incrs = 0;
        sizes.growth_base = base_size + self.writer.file_size();
    }

    /// The log's size on disk (INFO `aof_current_size`).
    pub fn current_size(&self) -> u64 {
        let sizes = self.sizes.lock();
        sizes.base + sizes.earlier_incrs + self.writer.file_size()
    }

    /// The size after the last load or rewrite (INFO `aof_base_size`).
    pub fn growth_base(&self) -> u64 {
        self.sizes.lock().growth_base
    }
}

/// Makes `aof` the engine's log: every change is appended to it from now on.
fn attach(state: &mut State, aof: Arc<Aof>) {
    state.keyspace.set_expiry_logging(true);
    state
        .propagation
        .set_journal(Some(Box::new(AofJournal::new(aof.writer.clone()))));
    state.persistence.log = Some(aof);
}

/// Removes what a rewrite interrupted by a crash left behind.
fn remove_stale_temp_files(target: &Target) {
    let Ok(entries) = std::fs::read_dir(&target.dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("temp-rewriteaof-bg-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
