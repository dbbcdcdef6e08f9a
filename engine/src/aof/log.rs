//! An AOF file's body: RESP commands one after another, read with Redis's rules for what
//! can go wrong at the end of a file and what cannot go wrong in the middle.
//!
//! - A record cut short by the end of the file is a *torn tail* (a crash during a write):
//!   [`Tail::Truncated`] says where the last whole command ends, so the host can cut there
//!   (`aof-load-truncated yes`) or refuse to start.
//! - A transaction whose EXEC never made it to the file is reverted the same way: the file
//!   is valid only up to its MULTI.
//! - Anything else that is not a command (a wrong byte where a `*` or `$` belongs, a length
//!   that is not a number) is [`Corrupt`] at that offset: Redis refuses to load it.
//!
//! Lines starting with `#` between commands are annotations (`aof-timestamp-enabled`) and
//! are skipped. Every length read from the file is checked against what is left of it
//! before anything is allocated: a file is input, and input is never trusted.

use bytes::Bytes;

/// One command of the log, and the offset just after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The command and its arguments.
    pub args: Vec<Bytes>,
    /// Where the next record starts.
    pub end: usize,
}

/// How the file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// At the end of a whole command, outside any transaction.
    Complete,
    /// In the middle of a command, or of a transaction that never reached its EXEC: the
    /// file is valid up to `valid_len` bytes (the records returned end there).
    Truncated {
        /// Length of the valid prefix.
        valid_len: usize,
    },
}

/// A record that is not a command, at `offset`: Redis's "Bad file format reading the append
/// only file".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt {
    /// Where the bad bytes start.
    pub offset: usize,
}

/// Whether the file starts with an RDB preamble (`REDIS...`) rather than commands.
pub fn has_rdb_preamble(data: &[u8]) -> bool {
    data.starts_with(b"REDIS")
}

/// What reading one record found.
enum Step {
    Record(Vec<Bytes>, usize),
    Annotation(usize),
    End,
    Torn,
}

/// Reads every command of an AOF file. Records of a transaction cut off before its EXEC are
/// not returned (see [`Tail::Truncated`]).
pub fn read(data: &Bytes) -> Result<(Vec<Record>, Tail), Corrupt> {
    let mut records: Vec<Record> = Vec::new();
    let mut pos = 0;
    // Records (count) and offset before the MULTI of an open transaction.
    let mut open_multi: Option<(usize, usize)> = None;
    loop {
        match step(data, pos)? {
            Step::End => break,
            Step::Annotation(next) => pos = next,
            Step::Torn => {
                let valid_len = match open_multi {
                    Some((count, at)) => {
                        records.truncate(count);
                        at
                    }
                    None => pos,
                };
                return Ok((records, Tail::Truncated { valid_len }));
            }
            Step::Record(args, end) => {
                let name = args.first().map(|a| a.to_ascii_lowercase());
                match name.as_deref() {
                    Some(b"multi") => open_multi = Some((records.len(), pos)),
                    Some(b"exec") => open_multi = None,
                    _ => {}
                }
                records.push(Record { args, end });
                pos = end;
            }
        }
    }
    match open_multi {
        Some((count, at)) => {
            records.truncate(count);
            Ok((records, Tail::Truncated { valid_len: at }))
        }
        None => Ok((records, Tail::Complete)),
    }
}

/// The line starting at `from`, without its CRLF, and where the next one starts; `None` when
/// the file ends first.
fn line(data: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(from..)?;
    let at = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((&rest[..at], from + at + 2))
}

/// A length field (`*N` or `$N`): a non-negative decimal number.
fn length(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn step(data: &Bytes, pos: usize) -> Result<Step, Corrupt> {
    if pos >= data.len() {
        return Ok(Step::End);
    }
    let bad = Err(Corrupt { offset: pos });
    match data[pos] {
        b'#' => {
            return Ok(match line(data, pos) {
                Some((_, next)) => Step::Annotation(next),
                None => Step::Torn,
            })
        }
        b'*' => {}
        _ => return bad,
    }
    let Some((header, mut at)) = line(data, pos) else {
        // A line feed without its carriage return is not a cut, it is damage.
        if data[pos..].contains(&b'\n') {
            return bad;
        }
        return Ok(Step::Torn);
    };
    let Some(count) = length(&header[1..]) else {
        return bad;
    };
    if count == 0 {
        return bad;
    }
    // Every argument takes at least `$0\r\n\r\n`: a count the rest of the file cannot hold
    // is a torn tail, and allocates nothing.
    let mut args = Vec::with_capacity(count.min((data.len() - at) / 6 + 1));
    for _ in 0..count {
        if at >= data.len() {
            return Ok(Step::Torn);
        }
        if data[at] != b'$' {
            return Err(Corrupt { offset: at });
        }
        let Some((field, start)) = line(data, at) else {
            return Ok(Step::Torn);
        };
        let Some(len) = length(&field[1..]) else {
            return Err(Corrupt { offset: at });
        };
        let Some(end) = start.checked_add(len) else {
            return Err(Corrupt { offset: at });
        };
        if end + 2 > data.len() {
            return Ok(Step::Torn);
        }
        if &data[end..end + 2] != b"\r\n" {
            return Err(Corrupt { offset: end });
        }
        args.push(data.slice(start..end));
        at = end + 2;
    }
    Ok(Step::Record(args, at))
}

/// Encodes a command as the log stores it.
pub fn encode(args: &[Bytes], out: &mut Vec<u8>) {
    encode_parts(args.iter().map(|a| a.as_ref()), args.len(), out);
}

/// Encodes a command given as `count` byte strings.
pub fn encode_parts<'a>(args: impl Iterator<Item = &'a [u8]>, count: usize, out: &mut Vec<u8>) {
    crate::reply::header(out, b'*', count);
    for arg in args {
        crate::reply::bulk(out, arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(record: &Record) -> Vec<String> {
        record
            .args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn reads_what_redis_7_wrote() {
        let base = Bytes::from_static(include_bytes!(
            "../../tests/fixtures/redis-7.0-appendonlydir/appendonly.aof.2.base.aof"
        ));
        let (records, tail) = read(&base).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(tail, Tail::Complete);
        let commands: Vec<Vec<String>> = records.iter().map(words).collect();
        assert_eq!(commands[0], ["SELECT", "0"]);
        assert!(commands.iter().any(|c| c[0] == "XADD" && c[1] == "s"));
        assert!(commands.iter().any(|c| c[0] == "PEXPIREAT" && c[1] == "k"));
        let incr = Bytes::from_static(include_bytes!(
            "../../tests/fixtures/redis-7.0-appendonlydir/appendonly.aof.2.incr.aof"
        ));
        let (records, tail) = read(&incr).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(tail, Tail::Complete);
        assert_eq!(
            records.last().map(words),
            Some(vec!["INCR".into(), "n".into()])
        );
        // Encoding gives the same bytes back.
        let mut out = Vec::new();
        for r in &records {
            encode(&r.args, &mut out);
        }
        assert_eq!(out, incr.to_vec());
    }

    fn log(commands: &[&[&str]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in commands {
            let args: Vec<Bytes> = c.iter().map(|w| Bytes::from(w.to_string())).collect();
            encode(&args, &mut out);
        }
        out
    }

    #[test]
    fn a_cut_at_every_byte_of_the_last_record_is_a_torn_tail() {
        let whole = log(&[&["SET", "a", "1"], &["XADD", "s", "1-1", "f", "value"]]);
        let first_end = log(&[&["SET", "a", "1"]]).len();
        for cut in first_end..whole.len() {
            let data = Bytes::copy_from_slice(&whole[..cut]);
            let (records, tail) = read(&data).unwrap_or_else(|e| panic!("cut {cut}: {e:?}"));
            if cut == first_end {
                assert_eq!(tail, Tail::Complete);
            } else {
                assert_eq!(
                    tail,
                    Tail::Truncated {
                        valid_len: first_end
                    },
                    "cut {cut}"
                );
            }
            assert_eq!(records.len(), 1, "cut {cut}");
        }
    }

    #[test]
    fn a_transaction_without_exec_is_reverted() {
        let data = Bytes::from(log(&[&["SET", "a", "1"], &["MULTI"], &["SET", "b", "2"]]));
        let before_multi = log(&[&["SET", "a", "1"]]).len();
        let (records, tail) = read(&data).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(records.len(), 1);
        assert_eq!(
            tail,
            Tail::Truncated {
                valid_len: before_multi
            }
        );
        let data = Bytes::from(log(&[&["MULTI"], &["SET", "b", "2"], &["EXEC"]]));
        let (records, tail) = read(&data).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((records.len(), tail), (3, Tail::Complete));
    }

    #[test]
    fn damage_in_the_middle_is_corruption_at_its_offset() {
        let whole = log(&[&["SET", "a", "1"], &["SET", "b", "2"]]);
        let second = log(&[&["SET", "a", "1"]]).len();
        // Each framing byte of the first record (`*`, `$`, CR, LF) damaged; a changed byte
        // inside an argument is just another value, which no format can tell.
        for at in (0..second).filter(|&i| b"*$\r\n".contains(&whole[i])) {
            let mut data = whole.clone();
            data[at] = b'!';
            let result = read(&Bytes::from(data));
            assert!(
                matches!(result, Err(Corrupt { offset }) if offset <= second),
                "flip at {at}: {result:?}"
            );
        }
        // A huge announced length allocates nothing and reads as torn.
        let data = Bytes::from_static(b"*999999999999\r\n$3\r\nSET\r\n");
        assert!(matches!(read(&data), Ok((r, Tail::Truncated { .. })) if r.is_empty()));
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let whole = log(&[
            &["SET", "a", "1"],
            &["MULTI"],
            &["XADD", "s", "1-1", "f", "v"],
            &["EXEC"],
        ]);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut data = whole.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % data.len();
                let pool = b"*$\r\n0123456789#";
                data[at] = pool[(next() as usize) % pool.len()];
            }
            data.truncate(1 + (next() as usize) % data.len());
            let data = Bytes::from(data);
            if let Ok((records, Tail::Truncated { valid_len })) = read(&data) {
                assert!(valid_len <= data.len());
                assert!(records.last().is_none_or(|r| r.end <= valid_len));
            }
        }
    }

    #[test]
    fn annotations_are_skipped_and_rdb_is_recognised() {
        let mut data = b"#TS:1700000000\r\n".to_vec();
        data.extend(log(&[&["SET", "a", "1"]]));
        let (records, tail) = read(&Bytes::from(data)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((records.len(), tail), (1, Tail::Complete));
        assert!(has_rdb_preamble(b"REDIS0010\xfa"));
        assert!(!has_rdb_preamble(b"*1\r\n"));
    }
}
