//! RESP on the wire: commands out as arrays of bulk strings, one reply frame in.
//!
//! Scalars are decoded by the `redis-protocol` crate. Aggregates (`*`, `%`, `~`, `>`) and the
//! RESP2 nulls are walked here, because the crate's frame types forget what the harness must
//! compare: it stores maps in a `HashMap` (losing the order Redis sends) and reads both `$-1`
//! and `*-1` as the same `Null`.

use crate::reply::Reply;
use redis_protocol::resp3::{
    decode::complete::decode as decode_scalar,
    types::{OwnedFrame, VerbatimStringFormat},
};

/// A reply that is not valid RESP: the connection cannot be trusted after this.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid RESP: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Encodes a command the way every client library does: an array of bulk strings.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes the first complete reply in `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or the reply and how many bytes it used.
pub fn decode_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, DecodeError> {
    decode_at(buf, 0)
}

/// Decodes the frame starting at `pos`; on success returns it and the position after it.
fn decode_at(buf: &[u8], pos: usize) -> Result<Option<(Reply, usize)>, DecodeError> {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    match kind {
        b'*' | b'%' | b'~' | b'>' => decode_aggregate(buf, pos, kind),
        b'$' => {
            const NULL_BULK: &[u8] = b"-1\r\n";
            let rest = &buf[pos + 1..];
            if rest.len() < NULL_BULK.len() && NULL_BULK.starts_with(rest) {
                return Ok(None);
            }
            if rest.starts_with(NULL_BULK) {
                return Ok(Some((Reply::NullBulk, pos + 1 + NULL_BULK.len())));
            }
            decode_leaf(buf, pos)
        }
        _ => decode_leaf(buf, pos),
    }
}

/// Reads the `<count>\r\n` header of an aggregate and then each element in order.
fn decode_aggregate(
    buf: &[u8],
    pos: usize,
    kind: u8,
) -> Result<Option<(Reply, usize)>, DecodeError> {
    let start = pos + 1;
    let Some(len) = buf[start..].windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let header = &buf[start..start + len];
    let count: i64 = std::str::from_utf8(header)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            DecodeError(format!(
                "bad aggregate length {:?}",
                String::from_utf8_lossy(header)
            ))
        })?;
    let mut at = start + len + 2;
    if count == -1 && kind == b'*' {
        return Ok(Some((Reply::NullArray, at)));
    }
    let count = usize::try_from(count)
        .map_err(|_| DecodeError(format!("negative aggregate length {count}")))?;
    let elements = if kind == b'%' { count * 2 } else { count };
    let mut items = Vec::with_capacity(elements.min(1024));
    for _ in 0..elements {
        let Some((item, next)) = decode_at(buf, at)? else {
            return Ok(None);
        };
        items.push(item);
        at = next;
    }
    let reply = match kind {
        b'*' => Reply::Array(items),
        b'~' => Reply::Set(items),
        b'>' => Reply::Push(items),
        _ => {
            let mut pairs = Vec::with_capacity(count);
            let mut iter = items.into_iter();
            while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
    };
    Ok(Some((reply, at)))
}

/// Decodes a scalar frame with `redis-protocol`.
fn decode_leaf(buf: &[u8], pos: usize) -> Result<Option<(Reply, usize)>, DecodeError> {
    let slice = &buf[pos..];
    let Some((frame, used)) = decode_scalar(slice).map_err(|e| DecodeError(e.to_string()))? else {
        return Ok(None);
    };
    let reply = match frame {
        OwnedFrame::SimpleString { data, .. } => Reply::Simple(data),
        OwnedFrame::SimpleError { data, .. } => Reply::Error(data.into_bytes()),
        OwnedFrame::Number { data, .. } => Reply::Integer(data),
        OwnedFrame::BlobString { data, .. } => Reply::Bulk(data),
        OwnedFrame::BlobError { data, .. } => Reply::BlobError(data),
        OwnedFrame::Null => Reply::Null,
        OwnedFrame::Boolean { data, .. } => Reply::Boolean(data),
        // Keep the digits the server wrote: `,1.5` and `,1.50` are different bytes.
        OwnedFrame::Double { .. } => {
            Reply::Double(slice[1..used.saturating_sub(2).max(1)].to_vec())
        }
        OwnedFrame::BigNumber { data, .. } => Reply::BigNumber(data),
        OwnedFrame::VerbatimString { data, format, .. } => Reply::Verbatim {
            format: match format {
                VerbatimStringFormat::Text => b"txt".to_vec(),
                VerbatimStringFormat::Markdown => b"mkd".to_vec(),
            },
            text: data,
        },
        other => return Err(DecodeError(format!("unexpected frame {other:?}"))),
    };
    Ok(Some((reply, pos + used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Reply {
        match decode_reply(bytes) {
            Ok(Some((reply, used))) => {
                assert_eq!(used, bytes.len(), "frame length");
                reply
            }
            other => panic!("decode failed: {other:?}"),
        }
    }

    #[test]
    fn nil_bulk_and_nil_array_stay_distinct() {
        assert_eq!(decode_all(b"$-1\r\n"), Reply::NullBulk);
        assert_eq!(decode_all(b"*-1\r\n"), Reply::NullArray);
        assert_eq!(decode_all(b"_\r\n"), Reply::Null);
    }

    #[test]
    fn maps_keep_their_order() {
        let reply = decode_all(b"%2\r\n+b\r\n:1\r\n+a\r\n*2\r\n$1\r\nx\r\n$-1\r\n");
        assert_eq!(
            reply,
            Reply::Map(vec![
                (Reply::Simple(b"b".to_vec()), Reply::Integer(1)),
                (
                    Reply::Simple(b"a".to_vec()),
                    Reply::Array(vec![Reply::Bulk(b"x".to_vec()), Reply::NullBulk])
                ),
            ])
        );
    }

    #[test]
    fn incomplete_frames_ask_for_more() {
        for cut in 1..b"*2\r\n$3\r\nabc\r\n:5\r\n".len() {
            let buf = &b"*2\r\n$3\r\nabc\r\n:5\r\n"[..cut];
            assert_eq!(decode_reply(buf), Ok(None), "cut at {cut}");
        }
        assert_eq!(decode_reply(b"$-"), Ok(None));
    }

    #[test]
    fn scalars() {
        assert_eq!(
            decode_all(b"-ERR x y\r\n"),
            Reply::Error(b"ERR x y".to_vec())
        );
        assert_eq!(decode_all(b",1.50\r\n"), Reply::Double(b"1.50".to_vec()));
        assert_eq!(decode_all(b"#f\r\n"), Reply::Boolean(false));
        assert_eq!(decode_all(b"$0\r\n\r\n"), Reply::Bulk(Vec::new()));
    }

    #[test]
    fn encodes_binary_arguments() {
        assert_eq!(
            encode_command(&[&b"SET"[..], b"k\r\n", b""]),
            b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$0\r\n\r\n"
        );
    }
}
