//! The case-file format of `tests/cases/*.txt`, and its parser.
//!
//! ```text
//! # A comment. Blank lines are ignored.
//! ### xadd: explicit ids            <- starts a case; the name is what reports show
//! @resp3                            <- optional case option, before the first command
//! XADD s 1-1 f v                    <- one command per line, redis-cli quoting
//! XADD s 1-1 "with space" "\x00\r\n"
//! !sorted KEYS *                    <- leading !directives mask this line's reply
//! 2> SET k v                        <- `2>`: send on the case's second connection
//! !repeat=150 XADD big {i}-1 f v{i} <- run 150 times, {i} = 1..=150
//! !scan SCAN 0 MATCH k*             <- loop SCAN to cursor 0; compare the sorted key union
//! !raw "PING\r\n"                   <- send bytes verbatim, read one reply
//! !mask-path=*.2 XPENDING s g - + 9 <- mask nested clock values (here: each entry's idle time)
//! ```
//!
//! The full reference, with every directive, lives in `tests/cases/README.md`.

use crate::mask::Masking;
use std::path::Path;

/// One `tests/cases/*.txt` file.
#[derive(Debug, Clone)]
pub struct CaseFile {
    /// The file name reports show (`xadd.txt`).
    pub name: String,
    /// Cases in file order.
    pub cases: Vec<Case>,
}

/// One `### name` block: runs on fresh connections after `FLUSHALL` and `SELECT 0`.
#[derive(Debug, Clone)]
pub struct Case {
    /// The text after `###`.
    pub name: String,
    /// Line of the `###` header (1-based).
    pub line: usize,
    /// `@resp3`: connections send `HELLO 3` before anything else.
    pub resp3: bool,
    /// The command lines.
    pub steps: Vec<Step>,
}

/// One command line of a case.
#[derive(Debug, Clone)]
pub struct Step {
    /// Line in the file (1-based).
    pub line: usize,
    /// The line as written, for reports.
    pub source: String,
    /// Which of the case's connections sends it: 0 for the default, 1 for `2>`.
    pub connection: usize,
    /// How the reply is normalised before comparing.
    pub masking: Masking,
    /// What is sent.
    pub action: Action,
    /// `!repeat=N`: the action runs N times with `{i}` replaced by 1..=N.
    pub repeat: Option<u32>,
}

/// What a step sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A command as an array of bulk strings.
    Command(Vec<Vec<u8>>),
    /// `!scan`: a SCAN-family command whose cursor argument is re-sent until it comes back `0`.
    Scan(Vec<Vec<u8>>),
    /// `!raw`: bytes sent verbatim (inline commands, malformed frames).
    Raw(Vec<u8>),
}

impl Step {
    /// The arguments (or raw bytes) of each repetition, with `{i}` substituted.
    pub fn expansions(&self) -> Vec<Action> {
        let Some(times) = self.repeat else {
            return vec![self.action.clone()];
        };
        (1..=times)
            .map(|i| {
                let needle = b"{i}";
                let value = i.to_string();
                let sub = |arg: &Vec<u8>| replace_all(arg, needle, value.as_bytes());
                match &self.action {
                    Action::Command(args) => Action::Command(args.iter().map(sub).collect()),
                    Action::Scan(args) => Action::Scan(args.iter().map(sub).collect()),
                    Action::Raw(bytes) => Action::Raw(sub(bytes)),
                }
            })
            .collect()
    }

    /// True when the command is `CONFIG SET`: the harness then restores the parameters after
    /// the case, so one case's tuning never leaks into the next.
    pub fn config_set_params(&self) -> Vec<Vec<u8>> {
        let Action::Command(args) = &self.action else {
            return Vec::new();
        };
        let is = |i: usize, word: &str| {
            args.get(i)
                .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
        };
        if !(is(0, "CONFIG") && is(1, "SET")) {
            return Vec::new();
        }
        args.iter().skip(2).step_by(2).cloned().collect()
    }
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Loads every `*.txt` in a directory, sorted by name so runs are reproducible.
pub fn load_dir(dir: &Path) -> Result<Vec<CaseFile>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            parse_file(&name, &text)
        })
        .collect()
}

/// Parses one case file. Errors name the file and line: a typo in a case must not silently
/// turn into a command Redis and Rill both reject.
pub fn parse_file(name: &str, text: &str) -> Result<CaseFile, String> {
    let mut cases: Vec<Case> = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let err = |msg: String| format!("{name}:{line}: {msg}");
        let trimmed = raw_line.trim();
        if let Some(title) = trimmed.strip_prefix("###") {
            let title = title.trim();
            if title.is_empty() {
                return Err(err("a case needs a name after ###".into()));
            }
            if cases.iter().any(|c| c.name == title) {
                return Err(err(format!("duplicate case name {title:?}")));
            }
            cases.push(Case {
                name: title.to_string(),
                line,
                resp3: false,
                steps: Vec::new(),
            });
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some(case) = cases.last_mut() else {
            return Err(err("command before the first ### case header".into()));
        };
        if let Some(option) = trimmed.strip_prefix('@') {
            if !case.steps.is_empty() {
                return Err(err(format!("@{option} must come before the first command")));
            }
            match option {
                "resp3" => case.resp3 = true,
                other => return Err(err(format!("unknown case option @{other}"))),
            }
            continue;
        }
        let step = parse_step(line, trimmed).map_err(err)?;
        case.steps.push(step);
    }
    if let Some(empty) = cases.iter().find(|c| c.steps.is_empty()) {
        return Err(format!(
            "{name}:{}: case {:?} has no commands",
            empty.line, empty.name
        ));
    }
    Ok(CaseFile {
        name: name.to_string(),
        cases,
    })
}

/// Parses `[2>] [!directive]... command args...`.
fn parse_step(line: usize, text: &str) -> Result<Step, String> {
    let mut masking = Masking::default();
    let mut connection = 0;
    let mut repeat = None;
    let mut scan = false;
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        let (token, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        match token {
            "1>" => connection = 0,
            "2>" => connection = 1,
            "!sorted" => masking.sorted = true,
            "!sorted-pairs" => masking.sorted_pairs = true,
            "!type-only" => masking.type_only = true,
            "!ttl" => masking.ttl = true,
            "!scan" => scan = true,
            "!raw" => {
                let parts = split_args(after)?;
                if parts.is_empty() {
                    return Err("!raw needs a quoted payload".into());
                }
                let bytes = parts.concat();
                return Ok(Step {
                    line,
                    source: text.to_string(),
                    connection,
                    masking,
                    action: Action::Raw(bytes),
                    repeat,
                });
            }
            _ if token.starts_with("!near=") => {
                let n = &token["!near=".len()..];
                masking.near = Some(n.parse().map_err(|_| format!("bad tolerance in {token}"))?);
            }
            _ if token.starts_with("!repeat=") => {
                let n = &token["!repeat=".len()..];
                repeat = Some(n.parse().map_err(|_| format!("bad count in {token}"))?);
            }
            _ if token.starts_with("!mask-path=") => {
                let paths = &token["!mask-path=".len()..];
                for path in paths.split(',').filter(|p| !p.is_empty()) {
                    masking.paths.push(crate::mask::parse_path(path)?);
                }
                if masking.paths.is_empty() {
                    return Err(format!("no paths in {token}"));
                }
            }
            _ if token.starts_with("!mask=") => {
                let fields = &token["!mask=".len()..];
                masking.fields = fields
                    .split(',')
                    .filter(|f| !f.is_empty())
                    .map(|f| f.as_bytes().to_vec())
                    .collect();
                if masking.fields.is_empty() {
                    return Err(format!("no fields in {token}"));
                }
            }
            _ if token.starts_with('!') => return Err(format!("unknown directive {token}")),
            _ => break,
        }
        rest = after;
    }
    let args = split_args(rest)?;
    if args.is_empty() {
        return Err("directives without a command".into());
    }
    let action = if scan {
        if args.len() < 2 {
            return Err("!scan needs a cursor argument".into());
        }
        Action::Scan(args)
    } else {
        Action::Command(args)
    };
    Ok(Step {
        line,
        source: text.to_string(),
        connection,
        masking,
        action,
        repeat,
    })
}

/// Splits a line into arguments with redis-cli's quoting rules (`sdssplitargs`): `"..."` with
/// `\n \r \t \b \a \\ \" \xHH` escapes, `'...'` with only `\'`, bare words up to whitespace.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            return Ok(args);
        }
        let mut arg = Vec::new();
        match bytes[i] {
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(format!("unterminated double quote in {line:?}")),
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let esc = *bytes
                                .get(i + 1)
                                .ok_or_else(|| format!("dangling backslash in {line:?}"))?;
                            i += 2;
                            match esc {
                                b'n' => arg.push(b'\n'),
                                b'r' => arg.push(b'\r'),
                                b't' => arg.push(b'\t'),
                                b'b' => arg.push(8),
                                b'a' => arg.push(7),
                                b'x' => {
                                    let hex = bytes
                                        .get(i..i + 2)
                                        .and_then(|h| std::str::from_utf8(h).ok());
                                    let value = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                                    let value = value
                                        .ok_or_else(|| format!("bad \\x escape in {line:?}"))?;
                                    arg.push(value);
                                    i += 2;
                                }
                                other => arg.push(other),
                            }
                        }
                        Some(&b) => {
                            arg.push(b);
                            i += 1;
                        }
                    }
                }
                if bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                    return Err(format!(
                        "closing quote must be followed by a space in {line:?}"
                    ));
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(format!("unterminated single quote in {line:?}")),
                        Some(b'\'') => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if bytes.get(i + 1) == Some(&b'\'') => {
                            arg.push(b'\'');
                            i += 2;
                        }
                        Some(&b) => {
                            arg.push(b);
                            i += 1;
                        }
                    }
                }
                if bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
                    return Err(format!(
                        "closing quote must be followed by a space in {line:?}"
                    ));
                }
            }
            _ => {
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    arg.push(bytes[i]);
                    i += 1;
                }
            }
        }
        args.push(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_redis_cli() {
        let args = split_args(r#"SET "a b" 'it\'s' "\x00\r\n\"" plain """#).expect("valid");
        assert_eq!(
            args,
            vec![
                b"SET".to_vec(),
                b"a b".to_vec(),
                b"it's".to_vec(),
                b"\x00\r\n\"".to_vec(),
                b"plain".to_vec(),
                Vec::new()
            ]
        );
        assert!(split_args(r#"GET "open"#).is_err());
        assert!(split_args(r#"GET "a"b"#).is_err());
    }

    #[test]
    fn directives_and_connections() {
        let file = parse_file(
            "t.txt",
            "# header\n### one\n@resp3\n2> !sorted !mask=a,b KEYS *\n!repeat=3 XADD s {i}-1 f v\n!raw \"PING\\r\\n\"\n!mask-path=*.2,x.*.idle XPENDING s g - + 9\n",
        )
        .expect("valid");
        let case = &file.cases[0];
        assert!(case.resp3);
        assert_eq!(case.steps[0].connection, 1);
        assert!(case.steps[0].masking.sorted);
        assert_eq!(
            case.steps[0].masking.fields,
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        let expansions = case.steps[1].expansions();
        assert_eq!(expansions.len(), 3);
        assert_eq!(
            expansions[2],
            Action::Command(vec![
                b"XADD".to_vec(),
                b"s".to_vec(),
                b"3-1".to_vec(),
                b"f".to_vec(),
                b"v".to_vec()
            ])
        );
        assert_eq!(case.steps[2].action, Action::Raw(b"PING\r\n".to_vec()));
        assert_eq!(case.steps[3].masking.paths.len(), 2);
    }

    #[test]
    fn mistakes_are_errors() {
        assert!(parse_file("t", "PING\n").is_err());
        assert!(parse_file("t", "### a\n!bogus PING\n").is_err());
        assert!(parse_file("t", "### a\nPING\n### a\nPING\n").is_err());
        assert!(parse_file("t", "### a\n").is_err());
        assert!(parse_file("t", "### a\n!mask-path= PING\n").is_err());
        assert!(parse_file("t", "### a\n!mask-path=a..b PING\n").is_err());
    }
}
