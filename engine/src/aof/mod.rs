//! Redis 7's append-only file, shared by rill-server and the embedded engine (only [`load`]
//! touches files; the formats are bytes in, bytes out).
//!
//! A Redis 7 AOF is a directory (`appenddirname`) holding a manifest ([`manifest`]) that lists
//! one base file and the incremental files after it, each a log of RESP commands ([`log`]).
//! [`replay`] runs a log on an engine; [`load`] reads a whole directory with Redis's rules
//! for torn and damaged files. This is the reading half of the append-only log, checked
//! against files Redis 7.0 wrote; writing (the propagation seam, fsync policies, rewrites)
//! comes next.

pub mod load;
pub mod log;
pub mod manifest;
pub mod replay;
pub mod writer;

use std::path::Path;

use crate::Engine;

/// Opens the append-only log in `dir` for `engine`, as Redis does at start with
/// `appendonly yes`: loads the directory if it has a manifest (with Redis's rules for torn
/// and damaged files), or creates a new one; then attaches the journal that appends every
/// change to the last incremental file with the `fsync` policy. Returns what the load did.
pub fn open_dir(
    engine: &Engine,
    dir: &Path,
    appendfilename: &str,
    fsync: writer::Fsync,
    load_truncated: bool,
) -> Result<load::LoadReport, load::LoadError> {
    let manifest_name = format!("{appendfilename}.manifest");
    let io = |e: std::io::Error| load::LoadError(format!("{}: {e}", dir.display()));
    let (report, incr) = if dir.join(&manifest_name).exists() {
        let report = load::load_dir(engine, dir, &manifest_name, load_truncated)?;
        let text = std::fs::read(dir.join(&manifest_name)).map_err(io)?;
        let manifest =
            manifest::Manifest::parse(&text).map_err(|e| load::LoadError(e.to_string()))?;
        let Some(last) = manifest.incrs.last() else {
            return Err(load::LoadError(format!(
                "The AOF manifest in {} lists no incremental file to append to",
                dir.display()
            )));
        };
        (report, dir.join(&last.name))
    } else {
        let incr = writer::create_dir(dir, appendfilename).map_err(io)?;
        (load::LoadReport::default(), incr)
    };
    let cut = report
        .truncated
        .as_ref()
        .filter(|(name, _)| incr.file_name().is_some_and(|f| f == name.as_str()))
        .map(|(_, len)| *len);
    let file = writer::open_for_append(&incr, cut).map_err(io)?;
    engine.set_journal(Some(Box::new(writer::AofWriter::new(file, fsync))));
    Ok(report)
}
