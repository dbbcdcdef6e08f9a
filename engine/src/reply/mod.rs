//! `Reply`: the value every command returns, shaped like RESP3 and encodable as RESP2 or RESP3.

use bytes::Bytes;

mod entries;
mod pending;

use crate::id::StreamId;

pub use entries::{EntryList, EntryRef, Fields as EntryFields};
pub use pending::{PendingList, PendingRow};

/// A command's answer. It mirrors RESP3 so that one value serves both protocols: RESP2 encoding
/// flattens maps and sets into arrays and turns doubles into bulk strings, as Redis does.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `+OK`: a status line. CR and LF in it are sent as spaces (see [`Reply::encode`]).
    Simple(String),
    /// `-ERR ...`: an error. The text starts with its code (`ERR`, `WRONGTYPE`, `NOGROUP`...).
    /// Errors often echo what the client sent (a group name, an option); CR and LF in it are
    /// sent as spaces (see [`Reply::encode`]).
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`: binary-safe string.
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    Null,
    /// The null array (`*-1` in RESP2, `_` in RESP3): what XREAD answers when nothing came.
    NullArray,
    /// `*N`: an ordered list.
    Array(Vec<Reply>),
    /// `%N` in RESP3; a flat array of key, value, key, value in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// `~N` in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// `,1.5` in RESP3; a bulk string in RESP2.
    Double(f64),
    /// `#t` in RESP3; the integer 1 or 0 in RESP2.
    Bool(bool),
    /// `=N\r\ntxt:...` in RESP3; a bulk string in RESP2. Used by INFO and CLIENT INFO.
    Verbatim(Bytes),
    /// `>N` in RESP3; an array in RESP2: an out-of-band message (pub/sub), or a (un)subscribe
    /// confirmation.
    Push(Vec<Reply>),
    /// Several replies in a row for one command, each encoded on its own: SUBSCRIBE a b
    /// answers one confirmation per channel.
    Many(Vec<Reply>),
    /// The entries of a stream read, held flat (see [`EntryList`]). It encodes as, and is equal
    /// to, the `Array` of `[id, [field, value, ...]]` entries that [`EntryList::to_replies`]
    /// builds.
    Entries(Box<EntryList>),
    /// XPENDING's extended rows, held flat (see [`PendingList`]): encoded as, and equal to,
    /// the `Array` of `[id, consumer, idle, count]` rows [`PendingList::to_replies`] builds.
    Pending(Box<PendingList>),
    /// A stream ID (XADD's answer): encoded as, and equal to, the bulk string of its text
    /// `ms-seq`, which is written straight into the output instead of being allocated.
    Id(StreamId),
}

impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        use Reply::*;
        match (self, other) {
            (Simple(a), Simple(b)) | (Error(a), Error(b)) => a == b,
            (Integer(a), Integer(b)) => a == b,
            (Bulk(a), Bulk(b)) | (Verbatim(a), Verbatim(b)) => a == b,
            (Null, Null) | (NullArray, NullArray) => true,
            (Array(a), Array(b)) | (Set(a), Set(b)) | (Push(a), Push(b)) | (Many(a), Many(b)) => {
                a == b
            }
            (Map(a), Map(b)) => a == b,
            (Double(a), Double(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Entries(a), Entries(b)) => a == b,
            (Entries(list), Array(items)) | (Array(items), Entries(list)) => {
                list.to_replies() == *items
            }
            (Pending(a), Pending(b)) => a == b,
            (Pending(list), Array(items)) | (Array(items), Pending(list)) => {
                list.to_replies() == *items
            }
            (Id(a), Id(b)) => a == b,
            (Id(id), Bulk(text)) | (Bulk(text), Id(id)) => {
                let mut buf = [0u8; 41];
                id.text(&mut buf) == text.as_ref()
            }
            _ => false,
        }
    }
}

impl Reply {
    /// `+OK`, the most common answer.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_string())
    }

    /// A status reply.
    pub fn simple(text: &str) -> Reply {
        Reply::Simple(text.to_string())
    }

    /// An error reply; `text` carries its code, e.g. `ERR syntax error`.
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string copied from a byte slice.
    pub fn bulk(data: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data))
    }

    /// A bulk string from text.
    pub fn text(data: impl Into<String>) -> Reply {
        Reply::Bulk(Bytes::from(data.into()))
    }

    /// The same reply with every [`Reply::Entries`] and [`Reply::Pending`] spelled out as the
    /// array it stands for: the shape a RESP client sees, for callers that take replies apart.
    pub fn into_tree(self) -> Reply {
        let all = |items: Vec<Reply>| items.into_iter().map(Reply::into_tree).collect();
        match self {
            Reply::Entries(list) => Reply::Array(list.to_replies()),
            Reply::Pending(list) => Reply::Array(list.to_replies()),
            Reply::Id(id) => Reply::Bulk(id.to_bytes()),
            Reply::Array(items) => Reply::Array(all(items)),
            Reply::Set(items) => Reply::Set(all(items)),
            Reply::Push(items) => Reply::Push(all(items)),
            Reply::Many(items) => Reply::Many(all(items)),
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.into_tree(), v.into_tree()))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Whether this is an error reply (it counts as a failed call in the stats).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the RESP encoding of this reply for protocol version `protocol` (2 or 3).
    pub fn encode(&self, protocol: u8, out: &mut Vec<u8>) {
        let resp3 = protocol >= 3;
        match self {
            Reply::Simple(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => line(out, b'-', e.as_bytes()),
            // Every line-shaped reply goes through `line`, which is what makes reply injection
            // impossible: no text a client sent can end a line early.
            Reply::Integer(n) => {
                out.push(b':');
                push_int(out, *n);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(b) => bulk(out, b),
            Reply::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Null => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                for item in items {
                    item.encode(protocol, out);
                }
            }
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(protocol, out);
                    v.encode(protocol, out);
                }
            }
            Reply::Set(items) => {
                header(out, if resp3 { b'~' } else { b'*' }, items.len());
                for item in items {
                    item.encode(protocol, out);
                }
            }
            Reply::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Bool(b) => {
                if resp3 {
                    out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" });
                } else {
                    out.extend_from_slice(if *b { b":1\r\n" } else { b":0\r\n" });
                }
            }
            Reply::Push(items) => {
                header(out, if resp3 { b'>' } else { b'*' }, items.len());
                for item in items {
                    item.encode(protocol, out);
                }
            }
            Reply::Many(replies) => {
                for reply in replies {
                    reply.encode(protocol, out);
                }
            }
            Reply::Entries(list) => list.encode(protocol, out),
            Reply::Pending(list) => list.encode(out),
            Reply::Id(id) => {
                let mut buf = [0u8; 41];
                bulk(out, id.text(&mut buf));
            }
            Reply::Verbatim(text) => {
                if resp3 {
                    header(out, b'=', text.len() + 4);
                    out.extend_from_slice(b"txt:");
                    out.extend_from_slice(text);
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text);
                }
            }
        }
    }
}

/// Formats a double the way Redis 7.2+ prints it in replies.
fn format_double(d: f64) -> String {
    crate::score::format(d)
}

/// Writes a one-line reply (`+`, `-`, `,`). CR and LF become spaces, as Redis does for the
/// errors it formats: an error that echoes a client's bytes (a group name, an option, a command
/// name) could otherwise end early and smuggle a reply of the client's choosing onto the
/// connection, answering the next command with it.
fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.extend_from_slice(text);
    }
    out.extend_from_slice(b"\r\n");
}

/// `<kind><len>\r\n`: an aggregate's or a bulk string's header (also the AOF's encoding).
pub(crate) fn header(out: &mut Vec<u8>, kind: u8, len: usize) {
    // Most headers of a stream read (`*2`, `$5`, an ID's `$15`): one write, no digit loop.
    if len < 10 {
        out.extend_from_slice(&[kind, b'0' + len as u8, b'\r', b'\n']);
        return;
    }
    if len < 100 {
        let (tens, ones) = (b'0' + (len / 10) as u8, b'0' + (len % 10) as u8);
        out.extend_from_slice(&[kind, tens, ones, b'\r', b'\n']);
        return;
    }
    out.push(kind);
    push_int(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

/// A bulk string: `$len`, the bytes, CRLF.
pub(crate) fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    header(out, b'$', data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes a decimal integer without allocating.
fn push_int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    let mut buf = [0u8; 20];
    out.extend_from_slice(crate::id::decimal(n.unsigned_abs(), &mut buf));
}

/// `reply`'s RESP bytes in `protocol` (2 or 3), for tests of the flat reply kinds.
#[cfg(test)]
fn encoded(reply: &Reply, protocol: u8) -> Vec<u8> {
    let mut out = Vec::new();
    reply.encode(protocol, &mut out);
    out
}

/// Checks that a flat reply stands for `tree`: the same bytes in both protocols, equal both
/// ways, and spelled out as it.
#[cfg(test)]
fn assert_stands_for(flat: &Reply, tree: &Reply) {
    for protocol in [2, 3] {
        assert_eq!(encoded(flat, protocol), encoded(tree, protocol));
    }
    assert_eq!(flat, tree);
    assert_eq!(tree, flat);
    assert_eq!(&flat.clone().into_tree(), tree);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, p: u8) -> String {
        let mut out = Vec::new();
        r.encode(p, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn maps_flatten_in_resp2() {
        let r = Reply::Map(vec![(Reply::text("a"), Reply::Integer(1))]);
        assert_eq!(enc(&r, 2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&r, 3), "%1\r\n$1\r\na\r\n:1\r\n");
    }

    #[test]
    fn line_replies_cannot_carry_a_line_break() {
        let evil = "NOGROUP group 'g\r\n$6\r\nhacked'";
        assert_eq!(
            enc(&Reply::error(evil), 2),
            "-NOGROUP group 'g  $6  hacked'\r\n"
        );
        assert_eq!(enc(&Reply::simple("a\nb"), 3), "+a b\r\n");
    }

    #[test]
    fn headers_of_every_width() {
        for len in [0usize, 9, 10, 42, 99, 100, 12345] {
            let mut out = Vec::new();
            header(&mut out, b'$', len);
            assert_eq!(out, format!("${len}\r\n").into_bytes());
        }
    }

    #[test]
    fn nulls_differ_by_protocol() {
        assert_eq!(enc(&Reply::Null, 2), "$-1\r\n");
        assert_eq!(enc(&Reply::NullArray, 2), "*-1\r\n");
        assert_eq!(enc(&Reply::NullArray, 3), "_\r\n");
        assert_eq!(
            enc(&Reply::Integer(i64::MIN), 2),
            ":-9223372036854775808\r\n"
        );
    }
}
