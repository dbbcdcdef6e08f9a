//! Reading requests off the wire: RESP multibulk frames and inline commands, with Redis's
//! limits and its exact `Protocol error: ...` texts.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline command or multibulk header line Redis accepts (64 KiB).
pub const INLINE_MAX: usize = 64 * 1024;

/// Most arguments in one multibulk request (Redis: `INT_MAX`).
pub const MAX_MULTIBULK: i64 = i32::MAX as i64;

/// Before AUTH, Redis refuses huge frames so an unauthenticated peer cannot make it allocate.
const UNAUTH_MULTIBULK_MAX: i64 = 10;
const UNAUTH_BULK_MAX: i64 = 16384;

/// Limits that come from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: longest single argument (512 MB by default).
    pub max_bulk_len: u64,
    /// Whether the client has authenticated (or no password is set).
    pub authenticated: bool,
}

/// A malformed request: the connection answers this text and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(what: &str) -> ProtocolError {
        ProtocolError(format!("ERR Protocol error: {what}"))
    }
}

/// Reads requests from one connection's buffer. A multibulk frame that arrives in pieces is
/// not rescanned from its start on every read: the parser remembers how far it got, as Redis
/// does, so a huge command sent slowly costs linear time, not quadratic. The span list is
/// reused from frame to frame, so a parsed command costs one allocation (its argument list).
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Where the next argument of the frame in progress starts; 0 when none is in progress.
    pos: usize,
    /// Arguments the frame in progress announced.
    count: usize,
    /// (start, length) of each argument found so far.
    spans: Vec<(usize, usize)>,
}

/// Takes one complete request from the front of `buf` with a fresh parser (tests, one-offs).
pub fn parse_request(
    buf: &mut BytesMut,
    limits: Limits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    RequestParser::default().parse(buf, limits)
}

/// The number of the `*N` or `$N` line at `pos`, and where its CRLF starts, read in one pass
/// when the line is plain: one to 18 digits, no sign, no leading zero, then CRLF (what every
/// client sends). `None` for anything else, incomplete lines included: the general path,
/// which finds the CRLF and then parses the number strictly, decides those. Inlined into
/// the request loop: a call per line cost more than reading its digits.
#[inline(always)]
fn short_number(buf: &[u8], pos: usize) -> Option<(i64, usize)> {
    let mut at = pos + 1;
    let mut n: i64 = 0;
    while let Some(&b) = buf.get(at) {
        if !b.is_ascii_digit() {
            break;
        }
        if at - pos > 18 {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
        at += 1;
    }
    let digits = at - pos - 1;
    if digits == 0 || (digits > 1 && buf[pos + 1] == b'0') {
        return None;
    }
    (buf.get(at) == Some(&b'\r') && buf.get(at + 1) == Some(&b'\n')).then_some((n, at))
}

/// The number of the `*N` or `$N` line at `pos` and where its CRLF starts; `Ok(None)` while
/// the line is incomplete. `too_big` and `invalid` are Redis's words for a line that grows
/// past the inline limit without ending and for a number it refuses.
#[inline(always)]
fn number_line(
    buf: &[u8],
    pos: usize,
    (too_big, invalid): (&str, &str),
) -> Result<Option<(i64, usize)>, ProtocolError> {
    if let Some(line) = short_number(buf, pos) {
        return Ok(Some(line));
    }
    let Some(eol) = find_crlf(buf, pos) else {
        if buf.len() - pos > INLINE_MAX {
            return Err(ProtocolError::new(too_big));
        }
        return Ok(None);
    };
    match rill_engine::args::parse_i64_strict(&buf[pos + 1..eol]) {
        Some(n) => Ok(Some((n, eol))),
        None => Err(ProtocolError::new(invalid)),
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf[from..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

impl RequestParser {
    /// Takes one complete request from the front of `buf`. `Ok(None)`: need more bytes.
    /// An empty `Vec` is a blank line or `*0`, which Redis skips silently.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let mut args = Vec::new();
        Ok(self.parse_into(buf, limits, &mut args)?.then_some(args))
    }

    /// [`RequestParser::parse`] into `args` (cleared first), so that a connection reuses
    /// one vector for every request instead of allocating and freeing one per command.
    /// `Ok(false)`: need more bytes (`args` is then empty).
    pub fn parse_into(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
        args: &mut Vec<Bytes>,
    ) -> Result<bool, ProtocolError> {
        args.clear();
        if buf.is_empty() {
            return Ok(false);
        }
        if buf[0] == b'*' {
            let result = self.multibulk(buf, limits, args);
            if result.is_err() {
                *self = RequestParser::default();
            }
            result
        } else {
            match parse_inline(buf)? {
                Some(words) => {
                    *args = words;
                    Ok(true)
                }
                None => Ok(false),
            }
        }
    }

    fn multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: Limits,
        args: &mut Vec<Bytes>,
    ) -> Result<bool, ProtocolError> {
        if self.pos == 0 {
            let words = ("too big mbulk count string", "invalid multibulk length");
            let Some((count, eol)) = number_line(buf, 0, words)? else {
                return Ok(false);
            };
            if count > MAX_MULTIBULK {
                return Err(ProtocolError::new("invalid multibulk length"));
            }
            if !limits.authenticated && count > UNAUTH_MULTIBULK_MAX {
                return Err(ProtocolError::new("unauthenticated multibulk length"));
            }
            if count <= 0 {
                buf.advance(eol + 2);
                return Ok(true);
            }
            self.count = count as usize;
            self.pos = eol + 2;
            self.spans.clear();
        }
        // Make sure the whole frame is here, then split it off without copying.
        while self.spans.len() < self.count {
            let pos = self.pos;
            if pos >= buf.len() {
                return Ok(false);
            }
            if buf[pos] != b'$' {
                let got = buf[pos] as char;
                return Err(ProtocolError(format!(
                    "ERR Protocol error: expected '$', got '{got}'"
                )));
            }
            let words = ("too big bulk count string", "invalid bulk length");
            let Some((len, line_end)) = number_line(buf, pos, words)? else {
                return Ok(false);
            };
            let len = match len {
                n if n >= 0 && (n as u64) <= limits.max_bulk_len => n as usize,
                _ => return Err(ProtocolError::new("invalid bulk length")),
            };
            if !limits.authenticated && len as i64 > UNAUTH_BULK_MAX {
                return Err(ProtocolError::new("unauthenticated bulk length"));
            }
            let start = line_end + 2;
            if buf.len() < start + len + 2 {
                // Reserve room for the rest of a big argument in one allocation.
                buf.reserve(start + len + 2 - buf.len());
                return Ok(false);
            }
            self.spans.push((start, len));
            self.pos = start + len + 2;
        }
        let frame = buf.split_to(self.pos).freeze();
        args.extend(
            self.spans
                .iter()
                .map(|&(start, len)| frame.slice(start..start + len)),
        );
        self.pos = 0;
        self.spans.clear();
        Ok(true)
    }
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    // Redis looks for the newline with C's strchr, which stops at a NUL byte: a NUL before
    // the newline leaves the request incomplete until it grows too big.
    let newline = buf
        .iter()
        .position(|&b| b == b'\n' || b == 0)
        .filter(|&i| buf[i] == b'\n');
    let Some(nl) = newline else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    split_args(text)
        .map(Some)
        .ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))
}

pub use rill_engine::args::split_args;

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Limits = Limits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };

    /// Whatever the fast path reads, the general path reads alike; what it leaves, it leaves
    /// whole (the general path then finds the line's end and judges the number).
    #[test]
    fn short_numbers_read_as_the_general_path_reads_them() {
        let lines: [&[u8]; 17] = [
            b"$5\r\n",
            b"*0\r\n",
            b"$00\r\n",
            b"$012\r\n",
            b"$-1\r\n",
            b"$+1\r\n",
            b"$999999999999999999\r\n",
            b"$1000000000000000000\r\n",
            b"$99999999999999999999\r\n",
            b"$12\rx\n",
            b"$12\r",
            b"$12",
            b"$\r\n",
            b"$1 2\r\n",
            b"$7\n",
            b"$42\r\nrest",
            b"*3\r\n$3\r\n",
        ];
        let mut fast = 0;
        for line in lines {
            let general = find_crlf(line, 0).and_then(|eol| {
                rill_engine::args::parse_i64_strict(&line[1..eol]).map(|n| (n, eol))
            });
            if let Some(read) = short_number(line, 0) {
                assert_eq!(Some(read), general, "{:?}", String::from_utf8_lossy(line));
                fast += 1;
            }
        }
        assert_eq!(fast, 5);
    }

    fn words(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn multibulk_in_pieces() {
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$3\r\nhi"[..]);
        assert_eq!(parse_request(&mut buf, OPEN), Ok(None));
        buf.extend_from_slice(b"!\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            parse_request(&mut buf, OPEN),
            Ok(Some(words(&["ECHO", "hi!"])))
        );
        assert_eq!(parse_request(&mut buf, OPEN), Ok(Some(words(&["PING"]))));
        assert!(buf.is_empty());
    }

    #[test]
    fn long_commands_keep_every_argument() {
        let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let mut raw = format!("*{}\r\n", words.len());
        for w in &words {
            raw.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        let mut buf = BytesMut::from(raw.as_bytes());
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(
            parse_request(&mut buf, OPEN),
            Ok(Some(super::tests::words(&refs)))
        );
    }

    #[test]
    fn a_frame_arriving_in_pieces_resumes_where_it_stopped() {
        let words: Vec<String> = (0..1000).map(|i| format!("arg{i}")).collect();
        let mut raw = format!("*{}\r\n", words.len());
        for w in &words {
            raw.push_str(&format!("${}\r\n{w}\r\n", w.len()));
        }
        raw.push_str("PING\r\n");
        let mut parser = RequestParser::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in raw.as_bytes().chunks(7) {
            buf.extend_from_slice(piece);
            while let Ok(Some(args)) = parser.parse(&mut buf, OPEN) {
                got.push(args);
            }
        }
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        assert_eq!(
            got,
            vec![super::tests::words(&refs), super::tests::words(&["PING"])]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn protocol_errors() {
        let mut buf = BytesMut::from(&b"*x\r\n"[..]);
        assert_eq!(
            parse_request(&mut buf, OPEN),
            Err(ProtocolError(
                "ERR Protocol error: invalid multibulk length".into()
            ))
        );
        let mut buf = BytesMut::from(&b"*1\r\n:1\r\n"[..]);
        assert_eq!(
            parse_request(&mut buf, OPEN),
            Err(ProtocolError(
                "ERR Protocol error: expected '$', got ':'".into()
            ))
        );
        let mut buf = BytesMut::from(&b"*1\r\n$-5\r\n"[..]);
        assert!(parse_request(&mut buf, OPEN).is_err());
        let mut buf = BytesMut::from(&b"SET \"a b\r\n"[..]);
        assert_eq!(
            parse_request(&mut buf, OPEN),
            Err(ProtocolError(
                "ERR Protocol error: unbalanced quotes in request".into()
            ))
        );
    }

    #[test]
    fn inline_commands() {
        let mut buf = BytesMut::from(&b"SET k \"a\\x41\\n\" 'it\\'s'\r\n\r\n"[..]);
        assert_eq!(
            parse_request(&mut buf, OPEN),
            Ok(Some(vec![
                Bytes::from("SET"),
                Bytes::from("k"),
                Bytes::from("aA\n"),
                Bytes::from("it's")
            ]))
        );
        assert_eq!(parse_request(&mut buf, OPEN), Ok(Some(Vec::new())));
    }
}
