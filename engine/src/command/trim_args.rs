//! The options XADD and XTRIM share: `[NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]
//! [KEEPREF|DELREF|ACKED]` (in any order) and, for XADD, where the ID argument starts.

use bytes::Bytes;

use crate::args::{int_arg, is};
use crate::error;
use crate::id::{parse_id, parse_strict_id, ParsedId};
use crate::reply::Reply;
use crate::stream::references::RefPolicy;
use crate::stream::{NodeLimits, Trim, TrimStrategy};

/// Parsed XADD/XTRIM options.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddOrTrimArgs {
    /// The MAXLEN or MINID request; `None` when none was given.
    pub trim: Option<Trim>,
    /// XADD NOMKSTREAM: answer nil rather than create a missing stream.
    pub no_mkstream: bool,
    /// XADD's explicit ID (`None` for `*`).
    pub id: Option<ParsedId>,
    /// Index of the ID argument (XADD) where field/value pairs start after.
    pub id_index: usize,
    /// What trimming does to consumer groups' references (Redis 8.2), KEEPREF by default.
    pub policy: RefPolicy,
    /// XADD IDMP / IDMPAUTO (Redis 8.6), as argument positions.
    pub idmp: Option<IdmpArgs>,
}

/// Where XADD's idempotency arguments are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdmpArgs {
    /// `IDMP producer-id idempotent-id`: the producer picks the iid.
    Given {
        /// Index of the producer ID.
        pid: usize,
        /// Index of the idempotent ID.
        iid: usize,
    },
    /// `IDMPAUTO producer-id`: the iid is a hash of the field/value pairs.
    Auto {
        /// Index of the producer ID.
        pid: usize,
    },
}

/// Parses from `args[2]` on. For XADD (`xadd`), stops at the ID argument.
pub fn parse(args: &[Bytes], xadd: bool, limits: NodeLimits) -> Result<AddOrTrimArgs, Reply> {
    let mut out = AddOrTrimArgs::default();
    let mut strategy: Option<TrimStrategy> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut policy_given = false;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if strategy.is_some() {
                return Err(Reply::error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approx = false;
            let next = &args[i + 1];
            if more >= 2 && next.as_ref() == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next.as_ref() == b"=" {
                i += 1;
            }
            let threshold = &args[i + 1];
            if is(opt, "maxlen") {
                let n = int_arg(threshold)?;
                if n < 0 {
                    return Err(Reply::error("ERR The MAXLEN argument must be >= 0."));
                }
                strategy = Some(TrimStrategy::MaxLen(n as u64));
            } else {
                strategy = Some(TrimStrategy::MinId(parse_strict_id(threshold)?));
            }
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            limit = int_arg(&args[i + 1])?;
            if limit < 0 {
                return Err(Reply::error("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && (is(opt, "idmp") && more >= 2 || is(opt, "idmpauto") && more >= 1) {
            if out.idmp.is_some() {
                return Err(Reply::error("ERR IDMP/IDMPAUTO specified multiple times"));
            }
            let auto = is(opt, "idmpauto");
            if args[i + 1].is_empty() {
                return Err(Reply::error(if auto {
                    "ERR IDMPAUTO requires a non-empty producer ID"
                } else {
                    "ERR IDMP requires a non-empty producer ID"
                }));
            }
            if auto {
                out.idmp = Some(IdmpArgs::Auto { pid: i + 1 });
                i += 1;
            } else {
                if args[i + 2].is_empty() {
                    return Err(Reply::error("ERR IDMP requires a non-empty idempotent ID"));
                }
                out.idmp = Some(IdmpArgs::Given {
                    pid: i + 1,
                    iid: i + 2,
                });
                i += 2;
            }
        } else if xadd && is(opt, "nomkstream") {
            out.no_mkstream = true;
        } else if let Some(policy) = RefPolicy::parse(opt).filter(|_| !policy_given) {
            // Once only: a second one is XADD's ID (an invalid one) or XTRIM's syntax error.
            out.policy = policy;
            policy_given = true;
        } else if xadd {
            out.id = Some(parse_id(opt, true, 0, true)?);
            break;
        } else {
            return Err(Reply::error(error::SYNTAX));
        }
        i += 1;
    }
    out.id_index = i;
    if limit != 0 && strategy.is_none() {
        return Err(Reply::error(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(Reply::error(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    let effective_limit = if limit_given {
        if !approx {
            return Err(Reply::error(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        limit as u64
    } else if approx {
        // Without LIMIT, `~` still bounds the work: 100 nodes' worth, at most 10000.
        let l = 100u64.saturating_mul(limits.max_entries);
        if l == 0 || l > 10000 {
            10000
        } else {
            l
        }
    } else {
        0
    };
    out.trim = strategy.map(|strategy| Trim {
        strategy,
        approx,
        limit: effective_limit,
    });
    Ok(out)
}
