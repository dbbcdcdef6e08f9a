//! The RESP value a server sent back, and the readable form mismatch reports print.

use std::fmt;

/// One reply frame, RESP2 or RESP3, keeping every distinction that is visible on the wire.
///
/// The `redis-protocol` crate folds `$-1` and `*-1` into one `Null` and keeps RESP3 maps in a
/// `HashMap`; both lose information a client can see (a nil bulk is not a nil array, and
/// `XINFO STREAM` fields come in a fixed order), so the harness keeps its own tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`
    Simple(Vec<u8>),
    /// `-ERR ...` (the text after the dash)
    Error(Vec<u8>),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc`
    Bulk(Vec<u8>),
    /// RESP2 `$-1`: a missing string (GET of a missing key).
    NullBulk,
    /// RESP2 `*-1`: a missing array (XREAD with nothing to return, aborted EXEC).
    NullArray,
    /// RESP3 `_`.
    Null,
    /// RESP3 `,` with its text kept verbatim, so `1.5` and `1.50` stay different.
    Double(Vec<u8>),
    /// RESP3 `#t` / `#f`.
    Boolean(bool),
    /// RESP3 `(` with its digits.
    BigNumber(Vec<u8>),
    /// RESP3 `!`: an error sent as a blob.
    BlobError(Vec<u8>),
    /// RESP3 `=`: a string with a three-letter format tag.
    Verbatim {
        /// The format tag (`txt`, `mkd`).
        format: Vec<u8>,
        /// The text after `fmt:`.
        text: Vec<u8>,
    },
    /// `*n`
    Array(Vec<Reply>),
    /// RESP3 `%n`, in the order the server sent the pairs.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~n`, in the order the server sent the elements.
    Set(Vec<Reply>),
    /// RESP3 `>n`.
    Push(Vec<Reply>),
    /// Never sent by a server: a value the harness replaced while masking (`<id1>`, `<type:bulk>`).
    Masked(String),
    /// Never sent by a server: no reply came (connection closed, timeout, garbage). The text says why.
    Missing(String),
}

impl Reply {
    /// The RESP type name, used by the `!type-only` directive and in reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Reply::Simple(_) => "simple",
            Reply::Error(_) => "error",
            Reply::Integer(_) => "integer",
            Reply::Bulk(_) => "bulk",
            Reply::NullBulk => "null-bulk",
            Reply::NullArray => "null-array",
            Reply::Null => "null",
            Reply::Double(_) => "double",
            Reply::Boolean(_) => "boolean",
            Reply::BigNumber(_) => "bignumber",
            Reply::BlobError(_) => "blob-error",
            Reply::Verbatim { .. } => "verbatim",
            Reply::Array(_) => "array",
            Reply::Map(_) => "map",
            Reply::Set(_) => "set",
            Reply::Push(_) => "push",
            Reply::Masked(_) => "masked",
            Reply::Missing(_) => "missing",
        }
    }

    /// The bytes of a simple or bulk string, which is how servers spell field names and IDs.
    pub fn as_text(&self) -> Option<&[u8]> {
        match self {
            Reply::Simple(bytes) | Reply::Bulk(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// Convenience for tests that only need to know whether a reply is an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::BlobError(_))
    }
}

/// Writes bytes the way redis-cli quotes them: printable ASCII as is, the rest escaped, so a
/// report shows `\x00` and `\r\n` instead of mangling the terminal.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

fn write_list(f: &mut fmt::Formatter<'_>, open: &str, items: &[Reply], close: &str) -> fmt::Result {
    f.write_str(open)?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(close)
}

/// One line per reply, unambiguous about types: `+OK`, `-ERR x`, `:1`, `"bulk"`, `(nil bulk)`,
/// `[a, b]`, `{k => v}`.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{}", escape(s)),
            Reply::Error(e) => write!(f, "-{}", escape(e)),
            Reply::Integer(n) => write!(f, ":{n}"),
            Reply::Bulk(b) => write!(f, "\"{}\"", escape(b)),
            Reply::NullBulk => f.write_str("(nil bulk $-1)"),
            Reply::NullArray => f.write_str("(nil array *-1)"),
            Reply::Null => f.write_str("(null _)"),
            Reply::Double(d) => write!(f, ",{}", escape(d)),
            Reply::Boolean(b) => f.write_str(if *b { "#t" } else { "#f" }),
            Reply::BigNumber(n) => write!(f, "({}", escape(n)),
            Reply::BlobError(e) => write!(f, "!{}", escape(e)),
            Reply::Verbatim { format, text } => {
                write!(f, "={}:\"{}\"", escape(format), escape(text))
            }
            Reply::Array(items) => write_list(f, "[", items, "]"),
            Reply::Set(items) => write_list(f, "~[", items, "]"),
            Reply::Push(items) => write_list(f, ">[", items, "]"),
            Reply::Map(pairs) => {
                f.write_str("{")?;
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} => {v}")?;
                }
                f.write_str("}")
            }
            Reply::Masked(what) => write!(f, "<{what}>"),
            Reply::Missing(why) => write!(f, "<no reply: {why}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_distinguishes_types() {
        let reply = Reply::Array(vec![
            Reply::Simple(b"OK".to_vec()),
            Reply::Bulk(b"a\r\n\x00".to_vec()),
            Reply::Integer(-2),
            Reply::NullBulk,
            Reply::Map(vec![(Reply::Bulk(b"k".to_vec()), Reply::Null)]),
        ]);
        assert_eq!(
            reply.to_string(),
            r#"[+OK, "a\r\n\x00", :-2, (nil bulk $-1), {"k" => (null _)}]"#
        );
    }
}
