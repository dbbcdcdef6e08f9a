//! What may differ between two correct servers, and how replies are normalised before comparing.
//!
//! Masking is opt-in per command line (see `tests/cases/README.md`), except for one rule that is
//! always on: stream IDs made from the wall clock. Two servers given `XADD s * f v` a millisecond
//! apart return different IDs and are both right, so a bulk string that is a stream ID whose
//! millisecond part lies within a day of now becomes a placeholder numbered by first appearance
//! (`<id1>`, `<id2>`...), per server and per case. The numbering keeps consistency checkable: if
//! Redis returns its second auto ID somewhere, Rill must return its second auto ID there too.

use crate::reply::Reply;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// IDs this close to the current time are treated as clock-made (auto `*` IDs).
const CLOCK_WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

/// Per-line masking rules, written as directives in case files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Masking {
    /// `!sorted`: the order of the top-level array (or set) is unspecified (KEYS, SMEMBERS-like).
    pub sorted: bool,
    /// `!sorted-pairs`: the reply is field/value pairs in unspecified order (CONFIG GET with a
    /// pattern): a flat array is sorted pair by pair, a map entry by entry.
    pub sorted_pairs: bool,
    /// `!type-only`: only the RESP type must match (INFO, TIME, CLIENT ID).
    pub type_only: bool,
    /// `!ttl`: non-negative integers compare as one bucket; -1 and -2 stay exact.
    pub ttl: bool,
    /// `!near=N`: integers may differ by up to N (PTTL right after PEXPIRE).
    pub near: Option<i64>,
    /// `!mask=a,b`: values of these top-level map fields (or flat field/value arrays) are
    /// replaced, because they describe internals (`radix-tree-nodes`) or the server (`version`).
    pub fields: Vec<Vec<u8>>,
    /// `!mask-path=p1,p2`: values at these paths into nested replies are replaced by their RESP
    /// type, because they are clock readings (XPENDING idle times, delivery timestamps). A path
    /// is `.`-separated segments: `*` (every element of an array/set, every value of a map), a
    /// number (that element of an array), or a name (the value after that field in a map or a
    /// flat field/value array). `*.2` masks the third element of every top-level entry.
    pub paths: Vec<Vec<PathSegment>>,
}

/// One step of a `!mask-path=` path.
#[derive(Clone, Debug, PartialEq)]
pub enum PathSegment {
    /// `*`: every element (array, set, push) or every map value.
    Every,
    /// `N`: the element at index N of an array.
    Index(usize),
    /// `name`: the value that follows this field in a map or flat field/value array.
    Field(Vec<u8>),
}

/// Parses `a.*.2` into segments; an empty segment is an error.
pub fn parse_path(text: &str) -> Result<Vec<PathSegment>, String> {
    text.split('.')
        .map(|seg| match seg {
            "" => Err(format!("empty segment in path {text:?}")),
            "*" => Ok(PathSegment::Every),
            _ if seg.bytes().all(|b| b.is_ascii_digit()) => seg
                .parse()
                .map(PathSegment::Index)
                .map_err(|_| format!("bad index {seg:?} in path {text:?}")),
            _ => Ok(PathSegment::Field(seg.as_bytes().to_vec())),
        })
        .collect()
}

/// Numbers clock-made stream IDs in order of first appearance, for one server in one case.
#[derive(Debug)]
pub struct IdMasker {
    now_ms: u64,
    seen: HashMap<Vec<u8>, usize>,
}

impl Default for IdMasker {
    fn default() -> Self {
        IdMasker::new()
    }
}

impl IdMasker {
    /// A masker with no IDs seen yet, its window centred on the current time.
    pub fn new() -> IdMasker {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        IdMasker {
            now_ms,
            seen: HashMap::new(),
        }
    }

    /// Replaces clock-made IDs anywhere in the reply by their placeholders.
    pub fn mask(&mut self, reply: Reply) -> Reply {
        match reply {
            Reply::Bulk(bytes) | Reply::Simple(bytes) if self.is_clock_id(&bytes) => {
                let next = self.seen.len() + 1;
                let n = *self.seen.entry(bytes).or_insert(next);
                Reply::Masked(format!("id{n}"))
            }
            Reply::Array(items) => Reply::Array(items.into_iter().map(|r| self.mask(r)).collect()),
            Reply::Set(items) => Reply::Set(items.into_iter().map(|r| self.mask(r)).collect()),
            Reply::Push(items) => Reply::Push(items.into_iter().map(|r| self.mask(r)).collect()),
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (self.mask(k), self.mask(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// `<ms>-<seq>` with both parts decimal u64 and `ms` within the clock window.
    fn is_clock_id(&self, bytes: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return false;
        };
        let Some((ms, seq)) = text.split_once('-') else {
            return false;
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) || seq.parse::<u64>().is_err() {
            return false;
        }
        match ms.parse::<u64>() {
            Ok(ms) => ms.abs_diff(self.now_ms) <= CLOCK_WINDOW_MS,
            Err(_) => false,
        }
    }
}

/// Applies a line's directives and the always-on ID masking to one server's reply.
///
/// Sorting happens before ID masking, so placeholders are numbered in the sorted order and two
/// servers that agree up to order also agree on the numbering.
pub fn normalize(reply: Reply, masking: &Masking, ids: &mut IdMasker) -> Reply {
    if masking.type_only {
        return Reply::Masked(format!("type:{}", reply.type_name()));
    }
    let mut reply = reply;
    if masking.sorted {
        reply = sort_top_level(reply);
    }
    if masking.sorted_pairs {
        reply = sort_pairs(reply);
    }
    if !masking.fields.is_empty() {
        reply = mask_fields(reply, &masking.fields);
    }
    for path in &masking.paths {
        reply = mask_path(reply, path);
    }
    if masking.ttl {
        reply = bucket_ttls(reply);
    }
    ids.mask(reply)
}

/// The XINFO STREAM fields of idempotent production (Redis 8.6) and the groups' `nacked-count`
/// (8.8), which the Redis 7.0 oracle does not report: Rill's are left out of the comparison.
pub const NEWER_STREAM_FIELDS: [&str; 7] = [
    "nacked-count",
    "idmp-duration",
    "idmp-maxsize",
    "pids-tracked",
    "iids-tracked",
    "iids-added",
    "iids-duplicates",
];

/// `reply` without the fields Redis added after the oracle's version, when `args` is an XINFO
/// STREAM call (the only reply that has them).
pub fn without_newer_fields(args: &[Vec<u8>], reply: Reply) -> Reply {
    let is = |i: usize, word: &str| {
        args.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    if !(is(0, "xinfo") && is(1, "stream")) {
        return reply;
    }
    drop_fields(reply, &NEWER_STREAM_FIELDS)
}

/// Removes the named fields (and their values) from maps and flat `field value ...` arrays,
/// at any depth.
fn drop_fields(reply: Reply, names: &[&str]) -> Reply {
    let named = |key: &Reply| {
        key.as_text()
            .is_some_and(|k| names.iter().any(|n| n.as_bytes() == k))
    };
    match reply {
        Reply::Map(pairs) => Reply::Map(
            pairs
                .into_iter()
                .filter(|(k, _)| !named(k))
                .map(|(k, v)| (k, drop_fields(v, names)))
                .collect(),
        ),
        Reply::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            let mut iter = items.into_iter();
            while let Some(item) = iter.next() {
                if named(&item) {
                    iter.next();
                } else {
                    kept.push(drop_fields(item, names));
                }
            }
            Reply::Array(kept)
        }
        other => other,
    }
}

/// True when two normalised replies match, allowing the `!near=N` tolerance on integers.
pub fn equivalent(a: &Reply, b: &Reply, masking: &Masking) -> bool {
    let Some(tolerance) = masking.near else {
        return a == b;
    };
    match (a, b) {
        (Reply::Integer(x), Reply::Integer(y)) => x.abs_diff(*y) <= tolerance.unsigned_abs(),
        (Reply::Array(xs), Reply::Array(ys))
        | (Reply::Set(xs), Reply::Set(ys))
        | (Reply::Push(xs), Reply::Push(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| equivalent(x, y, masking))
        }
        (Reply::Map(xs), Reply::Map(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((xk, xv), (yk, yv))| xk == yk && equivalent(xv, yv, masking))
        }
        _ => a == b,
    }
}

/// Sorts the elements of a top-level array or set by their printed form.
fn sort_top_level(reply: Reply) -> Reply {
    let sort = |mut items: Vec<Reply>| {
        items.sort_by_cached_key(|r| r.to_string());
        items
    };
    match reply {
        Reply::Array(items) => Reply::Array(sort(items)),
        Reply::Set(items) => Reply::Set(sort(items)),
        other => other,
    }
}

/// Sorts field/value pairs, keeping each value with its field.
fn sort_pairs(reply: Reply) -> Reply {
    match reply {
        Reply::Array(items) if items.len() % 2 == 0 => {
            let mut pairs: Vec<[Reply; 2]> = Vec::with_capacity(items.len() / 2);
            let mut iter = items.into_iter();
            while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                pairs.push([k, v]);
            }
            pairs.sort_by_cached_key(|[k, v]| format!("{k} {v}"));
            Reply::Array(pairs.into_iter().flatten().collect())
        }
        Reply::Map(mut pairs) => {
            pairs.sort_by_cached_key(|(k, v)| format!("{k} {v}"));
            Reply::Map(pairs)
        }
        other => other,
    }
}

/// Masks the values of the named fields in a map or a flat `field value ...` array.
fn mask_fields(reply: Reply, fields: &[Vec<u8>]) -> Reply {
    let listed = |key: &Reply| {
        key.as_text()
            .is_some_and(|k| fields.iter().any(|f| f.as_slice() == k))
    };
    let masked = |key: &Reply| {
        Reply::Masked(format!(
            "masked:{}",
            String::from_utf8_lossy(key.as_text().unwrap_or_default())
        ))
    };
    match reply {
        Reply::Map(pairs) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    if listed(&k) {
                        (k.clone(), masked(&k))
                    } else {
                        (k, v)
                    }
                })
                .collect(),
        ),
        Reply::Array(mut items) => {
            for i in (0..items.len().saturating_sub(1)).step_by(2) {
                if listed(&items[i]) {
                    items[i + 1] = masked(&items[i]);
                }
            }
            Reply::Array(items)
        }
        other => other,
    }
}

/// Replaces the value(s) at `path` by a placeholder naming their RESP type, so a clock reading
/// compares equal to any other reading of the same type but a nil or an error still differs.
/// Parts of the path that do not exist in this reply are ignored.
fn mask_path(reply: Reply, path: &[PathSegment]) -> Reply {
    let Some((first, rest)) = path.split_first() else {
        return Reply::Masked(format!("masked:{}", reply.type_name()));
    };
    let field_matches = |key: &Reply, name: &[u8]| key.as_text() == Some(name);
    match (first, reply) {
        (PathSegment::Every, Reply::Array(items)) => {
            Reply::Array(items.into_iter().map(|r| mask_path(r, rest)).collect())
        }
        (PathSegment::Every, Reply::Set(items)) => {
            Reply::Set(items.into_iter().map(|r| mask_path(r, rest)).collect())
        }
        (PathSegment::Every, Reply::Push(items)) => {
            Reply::Push(items.into_iter().map(|r| mask_path(r, rest)).collect())
        }
        (PathSegment::Every, Reply::Map(pairs)) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k, mask_path(v, rest)))
                .collect(),
        ),
        (PathSegment::Index(i), Reply::Array(mut items)) => {
            if *i < items.len() {
                let item = std::mem::replace(&mut items[*i], Reply::Null);
                items[*i] = mask_path(item, rest);
            }
            Reply::Array(items)
        }
        (PathSegment::Field(name), Reply::Map(pairs)) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let v = if field_matches(&k, name) {
                        mask_path(v, rest)
                    } else {
                        v
                    };
                    (k, v)
                })
                .collect(),
        ),
        (PathSegment::Field(name), Reply::Array(mut items)) => {
            for i in (0..items.len().saturating_sub(1)).step_by(2) {
                if field_matches(&items[i], name) {
                    let value = std::mem::replace(&mut items[i + 1], Reply::Null);
                    items[i + 1] = mask_path(value, rest);
                }
            }
            Reply::Array(items)
        }
        (_, other) => other,
    }
}

/// `!ttl`: every non-negative integer becomes one bucket; -1 (no expiry) and -2 (no key) stay.
fn bucket_ttls(reply: Reply) -> Reply {
    match reply {
        Reply::Integer(n) if n >= 0 => Reply::Masked("ttl>=0".into()),
        Reply::Array(items) => Reply::Array(items.into_iter().map(bucket_ttls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn clock_ids_are_numbered_by_first_appearance() {
        let mut ids = IdMasker::new();
        let now = ids.now_ms;
        let a = format!("{now}-0");
        let b = format!("{}-0", now + 1);
        let reply = Reply::Array(vec![bulk(&a), bulk(&b), bulk(&a), bulk("5-0"), bulk("x-1")]);
        let masked = normalize(reply, &Masking::default(), &mut ids);
        assert_eq!(masked.to_string(), r#"[<id1>, <id2>, <id1>, "5-0", "x-1"]"#);
    }

    #[test]
    fn fields_are_masked_in_maps_and_flat_arrays() {
        let masking = Masking {
            fields: vec![b"radix-tree-nodes".to_vec()],
            ..Masking::default()
        };
        let flat = Reply::Array(vec![
            bulk("length"),
            Reply::Integer(1),
            bulk("radix-tree-nodes"),
            Reply::Integer(2),
        ]);
        let out = normalize(flat, &masking, &mut IdMasker::new());
        assert_eq!(
            out.to_string(),
            r#"["length", :1, "radix-tree-nodes", <masked:radix-tree-nodes>]"#
        );
    }

    #[test]
    fn paths_mask_nested_values_by_type() {
        let masking = Masking {
            paths: vec![
                parse_path("*.2").expect("valid"),
                parse_path("groups.*.consumers.*.seen-time").expect("valid"),
            ],
            ..Masking::default()
        };
        let pending = Reply::Array(vec![
            Reply::Array(vec![
                bulk("1-1"),
                bulk("c"),
                Reply::Integer(12),
                Reply::Integer(1),
            ]),
            Reply::Array(vec![
                bulk("1-2"),
                bulk("c"),
                Reply::Integer(0),
                Reply::Integer(3),
            ]),
        ]);
        let out = normalize(pending, &masking, &mut IdMasker::new());
        assert_eq!(
            out.to_string(),
            r#"[["1-1", "c", <masked:integer>, :1], ["1-2", "c", <masked:integer>, :3]]"#
        );
        let consumer = Reply::Map(vec![
            (bulk("name"), bulk("c")),
            (bulk("seen-time"), Reply::Integer(99)),
        ]);
        let group = Reply::Array(vec![
            bulk("name"),
            bulk("g"),
            bulk("consumers"),
            Reply::Array(vec![consumer]),
        ]);
        let full = Reply::Array(vec![
            bulk("length"),
            Reply::Integer(1),
            bulk("groups"),
            Reply::Array(vec![group]),
        ]);
        let out = normalize(full, &masking, &mut IdMasker::new());
        assert!(out.to_string().contains("<masked:integer>"), "{out}");
        assert!(!out.to_string().contains(":99"), "{out}");
        // A nil where a number is expected still differs from a masked number.
        let nil = Reply::Array(vec![Reply::Array(vec![
            bulk("1-1"),
            bulk("c"),
            Reply::NullBulk,
        ])]);
        let out = normalize(nil, &masking, &mut IdMasker::new());
        assert_eq!(out.to_string(), r#"[["1-1", "c", <masked:null-bulk>]]"#);
        assert!(parse_path("a..b").is_err());
    }

    #[test]
    fn pairs_stay_together_when_sorted() {
        let masking = Masking {
            sorted_pairs: true,
            ..Masking::default()
        };
        let flat = Reply::Array(vec![bulk("b"), bulk("1"), bulk("a"), bulk("2")]);
        let out = normalize(flat, &masking, &mut IdMasker::new());
        assert_eq!(out.to_string(), r#"["a", "2", "b", "1"]"#);
    }

    #[test]
    fn ttl_bucket_and_tolerance() {
        let ttl = Masking {
            ttl: true,
            ..Masking::default()
        };
        assert_eq!(
            normalize(Reply::Integer(99), &ttl, &mut IdMasker::new()),
            Reply::Masked("ttl>=0".into())
        );
        assert_eq!(
            normalize(Reply::Integer(-2), &ttl, &mut IdMasker::new()),
            Reply::Integer(-2)
        );
        let near = Masking {
            near: Some(5),
            ..Masking::default()
        };
        assert!(equivalent(&Reply::Integer(100), &Reply::Integer(96), &near));
        assert!(!equivalent(
            &Reply::Integer(100),
            &Reply::Integer(94),
            &near
        ));
    }
}
