//! `[KEEPREF | DELREF | ACKED] IDS numids id [id ...]`, the arguments XDELEX and XACKDEL
//! share (Redis 8.2). The policy may come before or after the IDS block, once; numids must
//! be a positive integer no larger than what follows it, and anything left over is a syntax
//! error. A second IDS block replaces the first, as in Redis.

use bytes::Bytes;

use crate::args::is;
use crate::error;
use crate::id::{parse_strict_id, StreamId};
use crate::reply::Reply;
use crate::stream::references::RefPolicy;

/// Parsed arguments: the policy (KEEPREF when none is given) and the raw IDs (parsed only
/// once the key is known to exist, as Redis does).
#[derive(Debug, Clone, Default)]
pub struct IdsArgs {
    /// What deleting does to consumer groups' references.
    pub policy: RefPolicy,
    /// The IDs as given.
    pub ids: Vec<Bytes>,
}

impl IdsArgs {
    /// The IDs, parsed strictly (no `-` or `+`), all or none.
    pub fn parsed_ids(&self) -> Result<Vec<StreamId>, Reply> {
        self.ids.iter().map(|id| parse_strict_id(id)).collect()
    }

    /// The reply when the key (or group) does not exist: -1 for each ID.
    pub fn all_missing(&self) -> Reply {
        Reply::Array(vec![Reply::Integer(-1); self.ids.len()])
    }
}

/// Parses `args[from..]`.
pub fn parse(args: &[Bytes], from: usize) -> Result<IdsArgs, Reply> {
    let mut out = IdsArgs::default();
    let (mut policy_given, mut ids_given) = (false, false);
    let mut i = from;
    while i < args.len() {
        let arg = &args[i];
        if let Some(policy) = RefPolicy::parse(arg).filter(|_| !policy_given) {
            out.policy = policy;
            policy_given = true;
            i += 1;
        } else if is(arg, "ids") && i + 1 < args.len() {
            let numids = std::str::from_utf8(&args[i + 1])
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| Reply::error("ERR Number of IDs must be a positive integer"))?;
            let start = i + 2;
            if numids as u64 > (args.len() - start) as u64 {
                return Err(Reply::error(
                    "ERR The `numids` parameter must match the number of arguments",
                ));
            }
            let end = start + numids as usize;
            out.ids = args[start..end].to_vec();
            ids_given = true;
            i = end;
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
    }
    if !ids_given {
        return Err(Reply::error("ERR IDS option is required"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(line: &str) -> Result<IdsArgs, Reply> {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        parse(&args, 2)
    }

    fn err(text: &str) -> Result<IdsArgs, Reply> {
        Err(Reply::error(text))
    }

    #[test]
    fn errors_are_redis_s() {
        let positive = "ERR Number of IDs must be a positive integer";
        assert_eq!(
            run("XDELEX s IDS abc 1-1").map(|a| a.ids),
            err(positive).map(|a| a.ids)
        );
        assert_eq!(
            run("XDELEX s IDS 0 1-1").map(|a| a.ids),
            err(positive).map(|a| a.ids)
        );
        assert_eq!(
            run("XDELEX s IDS -5 1-1").map(|a| a.ids),
            err(positive).map(|a| a.ids)
        );
        assert_eq!(
            run("XDELEX s IDS 3 1-1 2-2").map(|a| a.ids),
            err("ERR The `numids` parameter must match the number of arguments").map(|a| a.ids)
        );
        for line in [
            "XDELEX s IDS 1 1-1 2-2",
            "XDELEX s KEEPREF DELREF IDS 1 1-1",
            "XDELEX s ACKED IDS 1 1-1 ACKED",
            "XDELEX s IDS",
            "XDELEX s FOO IDS 1 1-1",
        ] {
            assert_eq!(
                run(line).map(|a| a.ids),
                err(error::SYNTAX).map(|a| a.ids),
                "{line}"
            );
        }
        assert_eq!(
            run("XDELEX s DELREF").map(|a| a.ids),
            err("ERR IDS option is required").map(|a| a.ids)
        );
    }

    #[test]
    fn the_policy_may_follow_the_ids_and_a_later_block_wins() {
        let a = run("XDELEX s IDS 1 1-1 delref").unwrap_or_default();
        assert_eq!((a.policy, a.ids.len()), (RefPolicy::DelRef, 1));
        let a = run("XDELEX s IDS 1 1-1 IDS 2 2-2 3-3").unwrap_or_default();
        assert_eq!(a.ids, vec![Bytes::from("2-2"), Bytes::from("3-3")]);
        assert_eq!(a.policy, RefPolicy::KeepRef);
    }
}
