//! Helpers for the engine's unit tests: run a command line on a session, build replies.

use bytes::Bytes;

use crate::{Reply, Session};

/// Runs one command given as words.
pub fn run(s: &mut Session, words: &[&str]) -> Reply {
    let args: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    // Spelled out, so that tests can take stream reads apart as arrays.
    s.execute(&args).into_tree()
}

pub fn int(n: i64) -> Reply {
    Reply::Integer(n)
}

pub fn bulk(s: &str) -> Reply {
    Reply::bulk(s.as_bytes())
}

pub fn err(text: &str) -> Reply {
    Reply::error(text)
}

/// The text of a bulk or verbatim reply (INFO, CLIENT INFO...).
pub fn text(reply: Reply) -> String {
    match reply {
        Reply::Verbatim(b) | Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("not text: {other:?}"),
    }
}
