//! Writing the log: the journal that appends each unit of change to the current incremental
//! file, with Redis's `appendfsync` policies, and the directory set-up (Redis 7's names).
//!
//! - `always`: the unit is on disk (fdatasync) before the engine lock is released, so before
//!   any reply to the command leaves; a write or sync error stops the process, as Redis does,
//!   since acknowledging writes that are not durable is the one thing this mode promises not to
//!   do.
//! - `everysec`: a thread syncs once a second: a crash of the machine loses at most about a
//!   second; a crash of the process loses nothing the kernel already has.
//! - `no`: the kernel decides when.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::log::encode;
use super::manifest::{AofFile, FileKind, Manifest};
use crate::propagate::{Effect, Journal};

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Sync every unit before its replies.
    Always,
    /// Sync once a second.
    EverySec,
    /// Leave it to the kernel.
    No,
}

impl Fsync {
    /// Parses the directive's value.
    pub fn from_config(value: &str) -> Fsync {
        match value {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// The journal that appends to the incremental file.
pub struct AofWriter {
    file: Arc<File>,
    fsync: Fsync,
    /// The database the file's last command ran in; a SELECT goes first when it changes.
    db: Option<usize>,
    buffer: Vec<u8>,
    /// Tells the everysec thread to stop.
    stop: Arc<AtomicBool>,
}

impl AofWriter {
    /// Appends to `file` (already positioned at its end) with the given policy.
    pub fn new(file: File, fsync: Fsync) -> AofWriter {
        let file = Arc::new(file);
        let stop = Arc::new(AtomicBool::new(false));
        if fsync == Fsync::EverySec {
            let (file, stop) = (file.clone(), stop.clone());
            let _ = std::thread::Builder::new()
                .name("rill-aof-fsync".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(std::time::Duration::from_secs(1));
                        let _ = file.sync_data();
                    }
                });
        }
        AofWriter {
            file,
            fsync,
            db: None,
            buffer: Vec::new(),
            stop,
        }
    }
}

impl Journal for AofWriter {
    fn append(&mut self, effects: &[Effect]) {
        self.buffer.clear();
        for effect in effects {
            if self.db != Some(effect.db) {
                encode(
                    &[
                        Bytes::from_static(b"SELECT"),
                        Bytes::from(effect.db.to_string()),
                    ],
                    &mut self.buffer,
                );
                self.db = Some(effect.db);
            }
            encode(&effect.args, &mut self.buffer);
        }
        let mut file: &File = &self.file;
        let written = file.write_all(&self.buffer);
        let synced = match (&written, self.fsync) {
            (Ok(()), Fsync::Always) => file.sync_data(),
            _ => Ok(()),
        };
        if let Err(e) = written.and(synced) {
            // Redis exits here too: the writes it would acknowledge next could not be kept.
            eprintln!("Can't write to the append only file: {e}. Exiting...");
            std::process::exit(1);
        }
    }
}

impl Drop for AofWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Shutting down (or turning the log off): what was written reaches the disk.
        let _ = self.file.sync_data();
    }
}

/// The names Redis 7 gives the files of a new AOF: `<name>.1.base.aof`,
/// `<name>.1.incr.aof`, `<name>.manifest`.
fn file_name(base: &str, seq: u64, kind: FileKind) -> String {
    match kind {
        FileKind::Base => format!("{base}.{seq}.base.aof"),
        _ => format!("{base}.{seq}.incr.aof"),
    }
}

/// Writes `manifest` as Redis does: to a temporary file, synced, renamed over the old one,
/// and the directory synced, so a crash leaves either the old manifest or the new one.
pub fn write_manifest(dir: &Path, name: &str, manifest: &Manifest) -> std::io::Result<()> {
    let temp = dir.join(format!("temp-{name}"));
    {
        let mut f = File::create(&temp)?;
        f.write_all(manifest.to_text().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&temp, dir.join(name))?;
    // IMPORTANT: the rename is durable only once the directory is synced.
    File::open(dir)?.sync_all()
}

/// Creates a new AOF directory for an empty dataset: an empty base, an empty incremental
/// file, the manifest listing both. Returns the incremental file's path.
pub fn create_dir(dir: &Path, appendfilename: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let base = file_name(appendfilename, 1, FileKind::Base);
    let incr = file_name(appendfilename, 1, FileKind::Incr);
    for name in [&base, &incr] {
        File::create(dir.join(name))?.sync_all()?;
    }
    let manifest = Manifest {
        base: Some(AofFile {
            name: base,
            seq: 1,
            kind: FileKind::Base,
        }),
        incrs: vec![AofFile {
            name: incr.clone(),
            seq: 1,
            kind: FileKind::Incr,
        }],
        history: Vec::new(),
    };
    write_manifest(dir, &format!("{appendfilename}.manifest"), &manifest)?;
    Ok(dir.join(incr))
}

/// Opens the file new changes are appended to: the manifest's last incremental file, cut to
/// `valid_len` first when loading found it torn.
pub fn open_for_append(path: &Path, valid_len: Option<usize>) -> std::io::Result<File> {
    let file = OpenOptions::new().append(true).open(path)?;
    if let Some(len) = valid_len {
        file.set_len(len as u64)?;
        file.sync_all()?;
    }
    Ok(file)
}
