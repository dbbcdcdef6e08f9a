//! Writing the log: the journal that turns each unit of change into RESP commands, and the
//! writer that gets them into the current incremental file with Redis's `appendfsync`
//! policies.
//!
//! Commands append to an in-memory buffer under the engine lock (a copy, no system call).
//! Before a client is answered, its connection makes sure what it saw is in the file:
//!
//! - `always`: written and fdatasync'ed. One sync covers everything appended before it, from
//!   every client (group commit): whoever needs the sync first does it ([`LogWriter::wait`]),
//!   and the clients that appended meanwhile are answered by that one sync or the next. A
//!   reply whose command found nothing unsynced goes out at once.
//! - `everysec`: written before the reply (a crash of the process loses nothing
//!   acknowledged); a thread syncs once a second, so a crash of the machine loses about a
//!   second at most.
//! - `no`: written before the reply; the kernel decides when it reaches the disk.
//!
//! A write or sync error under `always` stops the process, as Redis does: the one promise of
//! that mode is never to acknowledge a write that is not on disk. Under the other policies the
//! data stays buffered, is written again on the next attempt, and INFO says
//! `aof_last_write_status:err`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};

use super::log::encode;
use crate::propagate::{Journal, Unit};

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Sync before the replies of what was written.
    Always = 0,
    /// Sync once a second.
    EverySec = 1,
    /// Leave it to the kernel.
    No = 2,
}

impl Fsync {
    /// Parses the directive's value (the config table already checked it).
    pub fn from_config(value: &str) -> Fsync {
        match value {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }

    fn from_u8(v: u8) -> Fsync {
        match v {
            0 => Fsync::Always,
            2 => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// Under `always`, rounds that appended at least this much are synced by the syncer thread
/// while the event loop goes on (pipelined clients: parsing and running the next round
/// overlaps the sync); smaller ones are synced in the event loop's own thread, as Redis does.
/// Measured with redis-benchmark, 50 clients: pipeline 1 appends about 1.5 KB a round,
/// pipeline 32 about 90 KB.
const OVERLAP_BYTES: u64 = 16 * 1024;

/// Commands appended and not yet written, in the order the engine ran them.
struct Pending {
    buf: Vec<u8>,
    /// The database the log's last command runs in; a SELECT goes first when it changes.
    db: Option<usize>,
}

impl Pending {
    /// Makes the log's next command run in `db`.
    fn select(&mut self, db: usize) {
        if self.db != Some(db) {
            let index = Bytes::from(db.to_string());
            encode(&[Bytes::from_static(b"SELECT"), index], &mut self.buf);
            self.db = Some(db);
        }
    }
}

/// The file being appended to.
struct Io {
    file: Arc<File>,
    /// Bytes in `file` (INFO `aof_current_size` adds the earlier files).
    size: u64,
    /// A buffer kept between writes so that appending reuses its capacity.
    spare: Vec<u8>,
}

/// The tail of an open log: the incremental file being appended to, and how far appended
/// bytes got (written, synced). Offsets count every byte ever appended, across files.
pub struct LogWriter {
    policy: AtomicU8,
    pending: Mutex<Pending>,
    io: Mutex<Io>,
    appended: AtomicU64,
    written: AtomicU64,
    synced: AtomicU64,
    /// Clients waiting for the log to reach an offset, and whether the syncer was asked to
    /// write (see [`LogWriter::wait`]).
    waiters: Mutex<Waiters>,
    /// Wakes the syncer thread.
    wake_syncer: Condvar,
    /// The host asks for the sync when its event loop is about to sleep
    /// ([`LogWriter::before_sleep`]), rather than each waiting client at its next turn.
    synced_before_sleep: AtomicBool,
    /// The last write error, until a write succeeds again.
    error: Mutex<Option<String>>,
    /// Whether `error` holds one: read after every command of a pipeline, so no lock.
    failing: AtomicBool,
    stopped: AtomicBool,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("appended", &self.appended.load(Ordering::Relaxed))
            .field("written", &self.written.load(Ordering::Relaxed))
            .field("synced", &self.synced.load(Ordering::Relaxed))
            .finish()
    }
}

impl LogWriter {
    /// Appends to `file` (positioned at its end, `size` bytes long) with `policy`; a thread
    /// does the once-a-second sync of `everysec` for as long as the writer lives.
    pub fn new(file: File, size: u64, policy: Fsync) -> Arc<LogWriter> {
        let writer = Arc::new(LogWriter {
            policy: AtomicU8::new(policy as u8),
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                db: None,
            }),
            io: Mutex::new(Io {
                file: Arc::new(file),
                size,
                spare: Vec::new(),
            }),
            appended: AtomicU64::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            waiters: Mutex::new(Waiters::default()),
            wake_syncer: Condvar::new(),
            synced_before_sleep: AtomicBool::new(false),
            error: Mutex::new(None),
            failing: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&writer);
        let _ = std::thread::Builder::new()
            .name("rill-aof-sync".into())
            .spawn(move || syncer(weak));
        writer
    }

    /// The `appendfsync` policy in force.
    pub fn policy(&self) -> Fsync {
        Fsync::from_u8(self.policy.load(Ordering::Relaxed))
    }

    /// Changes the policy (CONFIG SET appendfsync); what was written so far is synced first
    /// when moving to `always`.
    pub fn set_policy(&self, policy: Fsync) {
        if policy == Fsync::Always {
            self.sync_all();
        }
        self.policy.store(policy as u8, Ordering::Relaxed);
        // Clients waiting under the old policy are answered under the new one.
        self.sync_all();
    }

    /// Adds one unit of effects to the buffer (under the engine lock), in MULTI/EXEC when it
    /// holds several commands, with a SELECT before a command whose database differs from
    /// the log's last.
    pub fn append(&self, unit: &Unit) {
        let mut pending = self.pending.lock();
        let before = pending.buf.len();
        let transaction = unit.is_transaction();
        let mut last_db = None;
        for (i, (db, resp)) in unit.commands().enumerate() {
            pending.select(db);
            if i == 0 && transaction {
                encode(&[Bytes::from_static(b"MULTI")], &mut pending.buf);
            }
            pending.buf.extend_from_slice(resp);
            last_db = Some(db);
        }
        if let (true, Some(db)) = (transaction, last_db) {
            pending.select(db);
            encode(&[Bytes::from_static(b"EXEC")], &mut pending.buf);
        }
        let added = (pending.buf.len() - before) as u64;
        // Only appends move it, and they hold the pending lock: a plain store, not a locked
        // read-modify-write per logged command.
        let appended = self.appended.load(Ordering::Relaxed);
        self.appended.store(appended + added, Ordering::Release);
    }

    /// How many bytes were ever appended: a client that saw the data up to here waits for
    /// this offset.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// Whether what was appended up to `offset` is as durable as the policy promises before
    /// a reply (synced for `always`, written otherwise). After a write error under another
    /// policy, replies are not held (the data stays buffered and INFO reports the error).
    pub fn is_durable(&self, offset: u64) -> bool {
        let reached = match self.policy() {
            Fsync::Always => self.synced.load(Ordering::Acquire),
            _ => self.written.load(Ordering::Acquire),
        };
        reached >= offset
            || (self.policy() != Fsync::Always && self.failing.load(Ordering::Acquire))
    }

    /// Blocks the calling thread until `offset` is durable, doing the write (and sync) itself
    /// unless another thread is doing it.
    pub fn wait_blocking(&self, offset: u64) {
        while !self.is_durable(offset) {
            let mut io = self.io.lock();
            if self.is_durable(offset) {
                break;
            }
            self.write_pending(&mut io);
        }
    }

    /// Resolves once `offset` is durable, without blocking the caller's thread: under
    /// `always` the syncer thread writes and syncs while the caller's thread goes on running
    /// other clients' commands, whose appends the next sync then covers too (group commit);
    /// under the other policies the write is a short system call made here: at once without
    /// a host event loop, else after one turn of it (the clients queued meanwhile append
    /// first, and the first of them to come back writes for all).
    pub async fn wait(self: Arc<Self>, offset: u64) {
        let mut registered = false;
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if self.is_durable(offset) {
                return Poll::Ready(());
            }
            let host_drives = self.synced_before_sleep.load(Ordering::Relaxed);
            if self.policy() != Fsync::Always {
                if host_drives && !yielded {
                    // Once to the back of the runtime's queue: the clients already waiting
                    // to run append first, and the write made at the next turn covers them
                    // all. (Waiting for the event loop to sleep instead would hold replies
                    // for as long as a busy server never sleeps.)
                    yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let mut io = self.io.lock();
                while !self.is_durable(offset) {
                    self.write_pending(&mut io);
                }
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.lock();
            // Checked again under the waiters' lock: the syncer wakes whoever is registered
            // once it has published a new offset, so none is missed.
            if self.is_durable(offset) {
                return Poll::Ready(());
            }
            if !registered {
                // First registered, then asked for at the next turn: the task goes to the
                // back of its runtime's queue, so the clients already waiting to run get
                // their commands appended first and one sync covers them all (what Redis
                // gets by syncing once per event-loop round).
                registered = true;
                waiters.list.push((offset, cx.waker().clone()));
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !waiters.requested && !host_drives {
                waiters.requested = true;
                drop(waiters);
                self.wake_syncer.notify_one();
            }
            Poll::Pending
        })
        .await
    }

    /// Called by a host whose event loop is about to wait for more work (Redis's
    /// `beforeSleep`): every client that ran in this round has appended by now, so one sync
    /// covers them all. From the first call on, clients waiting under `always` leave the
    /// request to it, and the others wait one turn before writing (see [`LogWriter::wait`]).
    pub fn before_sleep(&self) {
        self.synced_before_sleep.store(true, Ordering::Relaxed);
        let mut waiters = self.waiters.lock();
        if waiters.list.is_empty() {
            return;
        }
        let large = self.buffered() >= OVERLAP_BYTES;
        if self.policy() == Fsync::Always && large {
            // A large round: the syncer thread syncs it while the event loop parses and
            // runs the next one.
            if !waiters.requested {
                waiters.requested = true;
                drop(waiters);
                self.wake_syncer.notify_one();
            }
            return;
        }
        // One write (and under `always`, one sync) for the whole round, made here as Redis
        // does in beforeSleep: a small round leaves the event loop little to overlap with
        // the sync, and waking another thread would cost more than it saves.
        drop(waiters);
        let mut io = self.io.lock();
        self.write_pending(&mut io);
    }

    /// Wakes the clients whose offset is now durable.
    fn wake_waiters(&self) {
        let ready: Vec<Waker> = {
            let mut waiters = self.waiters.lock();
            let (done, left): (Vec<_>, Vec<_>) = std::mem::take(&mut waiters.list)
                .into_iter()
                .partition(|(offset, _)| self.is_durable(*offset));
            waiters.list = left;
            done.into_iter().map(|(_, waker)| waker).collect()
        };
        for waker in ready {
            waker.wake();
        }
    }

    /// Writes what is pending, and syncs under `always`. The caller holds the I/O lock.
    fn write_pending(&self, io: &mut Io) {
        let end = {
            let mut pending = self.pending.lock();
            std::mem::swap(&mut pending.buf, &mut io.spare);
            self.appended.load(Ordering::Acquire)
        };
        let always = self.policy() == Fsync::Always;
        let mut file: &File = &io.file;
        let written = file.write_all(&io.spare);
        let synced = match (&written, always) {
            (Ok(()), true) => io.file.sync_data(),
            _ => Ok(()),
        };
        match written.and(synced) {
            Ok(()) => {
                io.size += io.spare.len() as u64;
                io.spare.clear();
                self.written.store(end, Ordering::Release);
                if always {
                    self.synced.store(end, Ordering::Release);
                }
                if self.failing.swap(false, Ordering::AcqRel) {
                    *self.error.lock() = None;
                }
            }
            Err(e) => {
                if always {
                    // Redis exits here too: the writes it would acknowledge next could not
                    // be kept.
                    eprintln!("Can't write to the append only file: {e}. Exiting...");
                    std::process::exit(1);
                }
                // A short write may have left part of the data: cut the file back, and keep
                // everything buffered (in order) for the next attempt.
                let _ = io.file.set_len(io.size);
                let mut pending = self.pending.lock();
                let newer = std::mem::take(&mut pending.buf);
                pending.buf = std::mem::take(&mut io.spare);
                pending.buf.extend_from_slice(&newer);
                *self.error.lock() = Some(e.to_string());
                self.failing.store(true, Ordering::Release);
            }
        }
        self.wake_waiters();
    }

    /// Writes and syncs everything appended so far (shutdown, turning the log off, a file
    /// switch).
    pub fn sync_all(&self) {
        let mut io = self.io.lock();
        self.write_pending(&mut io);
        let end = self.written.load(Ordering::Acquire);
        if io.file.sync_data().is_ok() {
            self.synced.fetch_max(end, Ordering::Release);
        }
    }

    /// Continues the log in `file` (a rewrite started): everything appended so far goes to
    /// the old file; the new file starts with a SELECT.
    pub fn switch_to(&self, file: File) {
        let mut io = self.io.lock();
        self.write_pending(&mut io);
        let old = std::mem::replace(&mut io.file, Arc::new(file));
        io.size = 0;
        self.pending.lock().db = None;
        if self.policy() != Fsync::Always {
            // What the old file holds unsynced (up to a second of writes under everysec) is
            // synced in the background, as Redis does when it moves to a new file, so the
            // switch does not stall the engine for it. Under `always` it is synced already.
            let _ = std::thread::Builder::new()
                .name("rill-aof-close".into())
                .spawn(move || old.sync_data());
        }
    }

    /// Bytes in the current incremental file.
    pub fn file_size(&self) -> u64 {
        self.io.lock().size
    }

    /// Bytes appended and not yet written (INFO `aof_buffer_length`).
    pub fn buffered(&self) -> u64 {
        self.appended()
            .saturating_sub(self.written.load(Ordering::Acquire))
    }

    /// Whether the last write failed (no lock: asked before every command).
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// The last write error, while it lasts.
    pub fn last_error(&self) -> Option<String> {
        self.error.lock().clone()
    }

    /// Stops the sync thread and makes everything durable (the log is closing).
    pub fn close(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.wake_syncer.notify_one();
        self.sync_all();
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        // The last handle went (an embedded engine dropped without `close`): what was
        // appended still reaches the disk.
        if !self.stopped.load(Ordering::Relaxed) {
            self.close();
        }
    }
}

/// Clients waiting for the log (under `always`).
#[derive(Default)]
struct Waiters {
    list: Vec<(u64, Waker)>,
    /// A client asked for a write since the syncer last looked.
    requested: bool,
}

/// The syncer thread, one per open log: under `always`, writes and syncs whatever is pending
/// as soon as a client waits for it, then again while clients still wait (each sync covers
/// every command appended before it started); under `everysec`, writes and syncs once a
/// second. Ends when the log closes.
fn syncer(writer: Weak<LogWriter>) {
    let mut last_second = std::time::Instant::now();
    loop {
        let Some(writer) = writer.upgrade() else {
            return;
        };
        if writer.stopped.load(Ordering::Relaxed) {
            return;
        }
        let requested = {
            let mut waiters = writer.waiters.lock();
            if !waiters.requested {
                // Clients waiting without a request yet (their host asks before it sleeps,
                // and may be too busy to sleep soon): synced after a millisecond at most.
                let timeout = if waiters.list.is_empty() { 100 } else { 1 };
                writer
                    .wake_syncer
                    .wait_for(&mut waiters, Duration::from_millis(timeout));
            }
            std::mem::take(&mut waiters.requested)
        };
        let waiting = !writer.waiters.lock().list.is_empty();
        if requested || waiting {
            let mut io = writer.io.lock();
            if !writer.waiters.lock().list.is_empty() {
                writer.write_pending(&mut io);
            }
            drop(io);
            // Requests made while syncing are dropped: the host asks again at its next
            // sleep, after it has answered the clients this sync released and run the
            // commands that came in meanwhile, so the next sync covers them all.
            writer.waiters.lock().requested = false;
        }
        if writer.policy() == Fsync::EverySec && last_second.elapsed() >= Duration::from_secs(1) {
            last_second = std::time::Instant::now();
            let (file, end) = {
                let mut io = writer.io.lock();
                writer.write_pending(&mut io);
                (io.file.clone(), writer.written.load(Ordering::Acquire))
            };
            // Synced outside the lock: clients keep writing meanwhile, as with Redis's
            // background fsync.
            if writer.synced.load(Ordering::Acquire) < end && file.sync_data().is_ok() {
                writer.synced.fetch_max(end, Ordering::Release);
            }
        }
    }
}

/// The journal the engine hands its changes to: appends them to a [`LogWriter`].
pub struct AofJournal {
    writer: Arc<LogWriter>,
}

impl AofJournal {
    /// A journal appending to `writer`.
    pub fn new(writer: Arc<LogWriter>) -> AofJournal {
        AofJournal { writer }
    }
}

impl Journal for AofJournal {
    fn append(&mut self, unit: &Unit) {
        self.writer.append(unit);
    }
}

/// Opens the file new changes are appended to: the manifest's last incremental file, cut to
/// `valid_len` first when loading found it torn. Returns it with its length.
pub fn open_for_append(path: &Path, valid_len: Option<usize>) -> std::io::Result<(File, u64)> {
    let file = OpenOptions::new().append(true).open(path)?;
    if let Some(len) = valid_len {
        file.set_len(len as u64)?;
        file.sync_all()?;
    }
    let size = file.metadata()?.len();
    Ok((file, size))
}

/// Creates a new, empty file and syncs the directory entry (a file named in the manifest
/// must exist after a crash).
pub fn create_file(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    file.sync_all()?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(file)
}

/// Replaces the file at `path` with `bytes` as Redis replaces its files: written to
/// `temp_name` in the same directory, synced, renamed over the old file, and the directory
/// synced, so a crash leaves either the old file or the new one. (Manifests here; RDB
/// snapshots too.)
pub fn replace_file(path: &Path, temp_name: &str, bytes: &[u8]) -> std::io::Result<()> {
    replace_file_with(path, temp_name, |f| f.write_all(bytes))
}

/// [`replace_file`] with the contents written by `fill` (a large snapshot is written as it
/// is encoded). The temporary file is removed when `fill` fails.
pub fn replace_file_with(
    path: &Path,
    temp_name: &str,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = dir.join(temp_name);
    let written = File::create(&temp).and_then(|mut f| {
        fill(&mut f)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    std::fs::rename(&temp, path)?;
    // IMPORTANT: the rename is durable only once the directory is synced.
    File::open(dir)?.sync_all()
}

/// Writes the manifest of the AOF at `target` (see [`replace_file`]).
pub fn write_manifest(
    target: &super::rewrite::Target,
    manifest: &super::manifest::Manifest,
) -> std::io::Result<()> {
    let name = target.manifest_name();
    replace_file(
        &target.dir.join(&name),
        &format!("temp-{name}"),
        manifest.to_text().as_bytes(),
    )
}
