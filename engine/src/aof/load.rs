//! Loading an AOF directory: the manifest, then the base, then every incremental file in
//! order, with Redis's rules for damage: only the very last file may end torn (cut when
//! `aof-load-truncated` allows it, refused otherwise), anything else is refused naming the
//! file and the offset. A base in RDB form (Redis's default `aof-use-rdb-preamble yes`) is
//! read as a snapshot.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::log::{self, Tail};
use super::manifest::Manifest;
use super::replay::replay;
use crate::Engine;

/// What a load did, for the log lines the host prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Commands run.
    pub commands: usize,
    /// Files read, in order.
    pub files: Vec<String>,
    /// When the last file ended torn and was loaded up to a point: the file and the length
    /// of its valid part (the host truncates the file there before appending to it).
    pub truncated: Option<(String, usize)>,
    /// The manifest the files were listed in.
    pub manifest: Manifest,
    /// The size of each file read (after a cut), in the order of `files`.
    pub sizes: Vec<u64>,
}

/// Why a directory could not be loaded; the text says which file and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Loads `dir` (the `appenddirname` directory) whose manifest is `manifest_name`
/// (`<appendfilename>.manifest`) into `engine`.
pub fn load_dir(
    engine: &Engine,
    dir: &Path,
    manifest_name: &str,
    load_truncated: bool,
) -> Result<LoadReport, LoadError> {
    let manifest_path = dir.join(manifest_name);
    let text = std::fs::read(&manifest_path).map_err(|e| {
        LoadError(format!(
            "Can't open the AOF manifest file {}: {e}",
            manifest_path.display()
        ))
    })?;
    let manifest = Manifest::parse(&text).map_err(|e| {
        LoadError(format!(
            "*** FATAL AOF MANIFEST FILE ERROR *** {}: {e}",
            manifest_path.display()
        ))
    })?;
    let files: Vec<&str> = manifest
        .base
        .iter()
        .chain(manifest.incrs.iter())
        .map(|f| f.name.as_str())
        .collect();
    let mut report = LoadReport::default();
    for (i, name) in files.iter().enumerate() {
        let path: PathBuf = dir.join(name);
        let data = std::fs::read(&path).map_err(|e| {
            LoadError(format!(
                "Can't open the append-only file {}: {e}",
                path.display()
            ))
        })?;
        // A base in RDB form (aof-use-rdb-preamble yes): the snapshot, then any commands
        // after it (Redis before 7 appended them to the same file).
        let mut data = data;
        let mut preamble = 0;
        if log::has_rdb_preamble(&data) {
            let options = crate::rdb::file::LoadOptions::from_config(&engine.config());
            let (loaded, used) = crate::rdb::file::decode(&data, options).map_err(|e| {
                LoadError(format!(
                    "Bad file format reading the RDB preamble of the append only file {}: {e}",
                    path.display()
                ))
            })?;
            let counts = crate::rdb::save::apply(engine, loaded, &path.display().to_string(), true);
            report.commands += counts.loaded;
            data.drain(..used);
            preamble = used;
        }
        let data = Bytes::from(data);
        let (records, tail) = log::read(&data).map_err(|c| {
            LoadError(format!(
                "Bad file format reading the append only file {} at offset {}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>",
                path.display(),
                c.offset + preamble
            ))
        })?;
        let last = i + 1 == files.len();
        if let Tail::Truncated { valid_len } = tail {
            let valid_len = valid_len + preamble;
            if !last || !load_truncated {
                return Err(LoadError(format!(
                    "Unexpected end of file reading the append only file {} (valid up to offset {valid_len} of {}). You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.",
                    path.display(),
                    preamble + data.len()
                )));
            }
            report.truncated = Some((name.to_string(), valid_len));
        }
        let size = match &report.truncated {
            Some((_, valid)) if last => *valid as u64,
            _ => (preamble + data.len()) as u64,
        };
        report.sizes.push(size);
        report.commands += replay(engine, name, &records).map_err(|e| LoadError(e.to_string()))?;
        report.files.push(name.to_string());
    }
    report.manifest = manifest;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::run;
    use crate::Reply;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/redis-7.0-appendonlydir"
    );

    /// A copy of the Redis-written fixture in a scratch directory, to damage.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rill-aof-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        for entry in std::fs::read_dir(FIXTURE).unwrap_or_else(|e| panic!("{e}")) {
            let entry = entry.unwrap_or_else(|e| panic!("{e}"));
            std::fs::copy(entry.path(), dir.join(entry.file_name()))
                .unwrap_or_else(|e| panic!("copy: {e}"));
        }
        dir
    }

    #[test]
    fn a_redis_7_appendonlydir_loads() {
        let engine = Engine::new();
        let report = load_dir(&engine, Path::new(FIXTURE), "appendonly.aof.manifest", true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.files.len(), 2);
        assert_eq!(report.truncated, None);
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["GET", "n"]), Reply::bulk(b"1"));
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(1));
    }

    #[test]
    fn a_torn_last_file_is_cut_or_refused_as_configured() {
        let dir = scratch("torn");
        let incr = dir.join("appendonly.aof.2.incr.aof");
        let whole = std::fs::read(&incr).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&incr, &whole[..whole.len() - 3]).unwrap_or_else(|e| panic!("{e}"));
        let refused = load_dir(&Engine::new(), &dir, "appendonly.aof.manifest", false);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.0.contains("Unexpected end of file")),
            "{refused:?}"
        );
        let engine = Engine::new();
        let report = load_dir(&engine, &dir, "appendonly.aof.manifest", true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(report.truncated.is_some());
        // The cut record (INCR n) is gone; what came before it loaded.
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["GET", "n"]), Reply::Null);
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_and_rdb_bases_are_refused_naming_the_file() {
        let dir = scratch("bad");
        let base = dir.join("appendonly.aof.2.base.aof");
        let mut data = std::fs::read(&base).unwrap_or_else(|e| panic!("{e}"));
        data[0] = b'!';
        std::fs::write(&base, &data).unwrap_or_else(|e| panic!("{e}"));
        let err = load_dir(&Engine::new(), &dir, "appendonly.aof.manifest", true);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.0.contains("appendonly.aof.2.base.aof at offset 0")),
            "{err:?}"
        );
        std::fs::write(&base, b"REDIS0010\xfa").unwrap_or_else(|e| panic!("{e}"));
        let err = load_dir(&Engine::new(), &dir, "appendonly.aof.manifest", true);
        assert!(
            err.as_ref()
                .is_err_and(|e| e.0.contains("RDB preamble") && e.0.contains("2.base.aof")),
            "{err:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
