//! The AOF manifest: which files make up the log, in Redis 7's text format.
//!
//! ```text
//! file appendonly.aof.2.base.aof seq 2 type b
//! file appendonly.aof.2.incr.aof seq 2 type i
//! ```
//!
//! One line per file: `file <name> seq <n> type <b|i|h>` (base, incremental, history: files
//! a rewrite replaced, waiting to be deleted). Lines starting with `#` are comments; keys
//! Redis does not know are skipped, so newer manifests still load. Errors carry Redis's texts.

use crate::args::split_args;

/// Longest manifest line Redis reads.
pub const MAX_LINE: usize = 1024;

/// What a file listed in the manifest holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// The base: the whole dataset as of a rewrite (`type b`).
    Base,
    /// Commands after the base, in sequence order (`type i`).
    Incr,
    /// A file a rewrite replaced, kept until it is deleted (`type h`).
    History,
}

impl FileKind {
    fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::Incr => 'i',
            FileKind::History => 'h',
        }
    }
}

/// One file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    /// The file's name inside the AOF directory.
    pub name: String,
    /// Its sequence number (Redis: base and incr numbering are separate).
    pub seq: u64,
    /// What it holds.
    pub kind: FileKind,
}

/// The files of one AOF directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base file, if any (a new AOF may start with increments only).
    pub base: Option<AofFile>,
    /// Incremental files, in increasing sequence order: replayed after the base.
    pub incrs: Vec<AofFile>,
    /// Files replaced by a rewrite and not yet deleted.
    pub history: Vec<AofFile>,
}

/// Why a manifest cannot be used: Redis's message, and the line it stopped at (1-based; 0
/// when the problem is the whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The line the error is about.
    pub line: usize,
    /// Redis's words for it.
    pub message: &'static str,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(
                f,
                "Reading the manifest file, at line {}: {}",
                self.line, self.message
            )
        }
    }
}

impl Manifest {
    /// Reads a manifest as Redis 7 does, with its errors.
    pub fn parse(text: &[u8]) -> Result<Manifest, ManifestError> {
        let mut manifest = Manifest::default();
        let mut files = 0;
        for (n, line) in text.split(|&b| b == b'\n').enumerate() {
            let line_no = n + 1;
            let err = |message| ManifestError {
                line: line_no,
                message,
            };
            if line.len() > MAX_LINE {
                return Err(err("The AOF manifest file contains too long line"));
            }
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'#') || line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let words = split_args(line).ok_or(err("Invalid AOF manifest file format"))?;
            if words.len() % 2 != 0 {
                return Err(err("Invalid AOF manifest file format"));
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0].as_ref() {
                    b"file" => name = Some(String::from_utf8_lossy(&pair[1]).into_owned()),
                    b"seq" => seq = crate::args::parse_i64_strict(&pair[1]),
                    b"type" => kind = pair[1].first().copied(),
                    // Keys of a newer Redis: skipped, as Redis does.
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err(err("Invalid AOF manifest file format"));
            };
            let seq = u64::try_from(seq).map_err(|_| err("Invalid AOF manifest file format"))?;
            let kind = match kind {
                b'b' => FileKind::Base,
                b'i' => FileKind::Incr,
                b'h' => FileKind::History,
                _ => return Err(err("Unknown AOF file type")),
            };
            let file = AofFile { name, seq, kind };
            match kind {
                FileKind::Base => {
                    if manifest.base.is_some() {
                        return Err(err("Found duplicate base file information"));
                    }
                    manifest.base = Some(file);
                }
                FileKind::Incr => {
                    if manifest.incrs.last().is_some_and(|last| last.seq >= seq) {
                        return Err(err("Found a non-monotonic sequence number"));
                    }
                    manifest.incrs.push(file);
                }
                FileKind::History => manifest.history.push(file),
            }
            files += 1;
        }
        if files == 0 {
            return Err(ManifestError {
                line: 0,
                message: "Found an empty AOF manifest",
            });
        }
        Ok(manifest)
    }

    /// The manifest's text as Redis writes it: base, then history, then increments; names
    /// quoted when they hold anything but plain characters.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let files = self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incrs.iter());
        for file in files {
            out.push_str(&format!(
                "file {} seq {} type {}\n",
                quoted(&file.name),
                file.seq,
                file.kind.letter()
            ));
        }
        out
    }
}

/// A name as `sdssplitargs` reads it back: bare when plain, else in double quotes with
/// escapes.
fn quoted(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return name.to_string();
    }
    let mut out = String::from("\"");
    for b in name.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b if b.is_ascii_graphic() || b == b' ' => out.push(b as char),
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_redis_7_wrote() {
        let text =
            include_bytes!("../../tests/fixtures/redis-7.0-appendonlydir/appendonly.aof.manifest");
        let manifest = Manifest::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            manifest.base,
            Some(AofFile {
                name: "appendonly.aof.2.base.aof".into(),
                seq: 2,
                kind: FileKind::Base
            })
        );
        assert_eq!(manifest.incrs.len(), 1);
        assert_eq!(manifest.incrs[0].name, "appendonly.aof.2.incr.aof");
        // Written back byte for byte.
        assert_eq!(manifest.to_text().as_bytes(), text);
    }

    #[test]
    fn errors_are_redis_s() {
        let cases: [(&[u8], usize, &str); 6] = [
            (b"", 0, "Found an empty AOF manifest"),
            (b"# only a comment\n", 0, "Found an empty AOF manifest"),
            (b"file a seq 1\n", 1, "Invalid AOF manifest file format"),
            (b"file a seq 1 type x\n", 1, "Unknown AOF file type"),
            (
                b"file a seq 1 type b\nfile b seq 2 type b\n",
                2,
                "Found duplicate base file information",
            ),
            (
                b"file a seq 2 type i\nfile b seq 2 type i\n",
                2,
                "Found a non-monotonic sequence number",
            ),
        ];
        for (text, line, message) in cases {
            assert_eq!(
                Manifest::parse(text),
                Err(ManifestError { line, message }),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        let long = format!("file {} seq 1 type b\n", "a".repeat(2000));
        assert_eq!(
            Manifest::parse(long.as_bytes()).map_err(|e| e.message),
            Err("The AOF manifest file contains too long line")
        );
    }

    #[test]
    fn unknown_keys_are_skipped_and_odd_names_round_trip() {
        let m =
            Manifest::parse(b"file \"a b\\\"c\" seq 3 type h future yes\nfile x seq 4 type i\n")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.history[0].name, "a b\"c");
        assert_eq!(Manifest::parse(m.to_text().as_bytes()), Ok(m));
    }
}
