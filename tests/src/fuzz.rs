//! In-process fuzzing of the two places hostile bytes reach: the request parser (every byte a
//! client sends) and command execution (every argument a parsed request carries).
//!
//! Inputs come from a seeded generator that mixes well-formed material with damage (valid
//! frames, then bytes flipped, lengths lied about, frames cut short, numbers at their limits,
//! CR/LF and binary bytes in every argument), so one seed always replays one input. What is
//! checked, besides "no panic":
//!
//! - parser: a stream of frames parses the same whether it arrives at once or in random
//!   pieces; every call makes progress or asks for more; no argument exceeds the bulk limit;
//!   the memory it reserves is bounded by what was announced and allowed.
//! - execute: every reply encodes, in RESP2 and RESP3, to exactly one well-formed frame (no
//!   reply can split into two), and the engine keeps answering afterwards.
//!
//! `cargo run --release -p rill-tests --bin fuzz -- --target parser --inputs 10000000` runs it
//! by hand; the test suite runs a bounded number of inputs of each target.

use bytes::{Bytes, BytesMut};
use rill_engine::{Engine, Session};
use rill_server::protocol::{Limits, ProtocolError, RequestParser};

use crate::resp::decode_reply;

/// A small, fast, seedable generator (xorshift64*): inputs must replay from their seed.
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability 1/`n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Words commands understand: options, IDs, special IDs and numbers at their edges.
const TOKENS: &[&str] = &[
    "s",
    "t",
    "k",
    "g",
    "g2",
    "c",
    "c2",
    "0",
    "1",
    "-1",
    "5",
    "100",
    "0-0",
    "0-1",
    "1-1",
    "1-2",
    "2-1",
    "*",
    "$",
    ">",
    "+",
    "-",
    "(1-1",
    "1-*",
    "18446744073709551615",
    "18446744073709551615-18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1.5",
    "nan",
    "inf",
    "MAXLEN",
    "MINID",
    "~",
    "=",
    "LIMIT",
    "COUNT",
    "BLOCK",
    "STREAMS",
    "GROUP",
    "NOACK",
    "IDLE",
    "TIME",
    "RETRYCOUNT",
    "FORCE",
    "JUSTID",
    "LASTID",
    "MKSTREAM",
    "ENTRIESREAD",
    "NOMKSTREAM",
    "ENTRIESADDED",
    "MAXDELETEDID",
    "FULL",
    "CREATE",
    "SETID",
    "DESTROY",
    "CREATECONSUMER",
    "DELCONSUMER",
    "CONSUMERS",
    "GROUPS",
    "STREAM",
    "HELP",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "KEEPTTL",
    "GET",
    "PERSIST",
    "MATCH",
    "TYPE",
    "ID",
    "ADDR",
    "SKIPME",
    "yes",
    "no",
    "ON",
    "OFF",
    "WRITE",
    "ALL",
    "AUTH",
    "SETNAME",
    "default",
    "REPLACE",
    "DB",
    "ASYNC",
    "SYNC",
    "",
];

/// Commands the execute target leaves out: they end the session or the process's usefulness
/// for the next inputs without exercising anything new.
const SKIPPED: &[&str] = &["shutdown", "quit", "reset", "client|kill", "client|pause"];

/// One argument: a token, a random number, random bytes (with CR/LF and NUL), or long.
fn argument(rng: &mut Rng) -> Bytes {
    match rng.below(10) {
        0 => Bytes::from(rng.next_u64().to_string()),
        1 => Bytes::from(format!("{}-{}", rng.below(5), rng.below(5))),
        2 => {
            let len = rng.below(12);
            let bytes: Vec<u8> = (0..len).map(|_| *rng.pick(b"\r\n\0 \"'a\xff-9")).collect();
            Bytes::from(bytes)
        }
        3 if rng.one_in(20) => Bytes::from(vec![b'x'; 1 + rng.below(100_000)]),
        _ => Bytes::from(*rng.pick(TOKENS)),
    }
}

/// One command: a real name (or subcommand) most of the time, then arguments.
pub fn command(rng: &mut Rng, names: &[Vec<Bytes>]) -> Vec<Bytes> {
    let mut args = if rng.one_in(30) {
        vec![argument(rng)]
    } else {
        rng.pick(names).clone()
    };
    for _ in 0..rng.below(9) {
        args.push(argument(rng));
    }
    args
}

/// Every command name and `name sub` pair of the table, but [`SKIPPED`].
pub fn command_names() -> Vec<Vec<Bytes>> {
    let mut names = Vec::new();
    for spec in rill_engine::command::table().values() {
        if SKIPPED.contains(&spec.name) {
            continue;
        }
        names.push(vec![Bytes::from(spec.name.to_ascii_uppercase())]);
        for sub in &spec.subcommands {
            if SKIPPED.contains(&sub.name) {
                continue;
            }
            if let Some(word) = sub.name.split('|').nth(1) {
                names.push(vec![
                    Bytes::from(spec.name.to_ascii_uppercase()),
                    Bytes::from(word.to_ascii_uppercase()),
                ]);
            }
        }
    }
    names.sort();
    names
}

/// A RESP multibulk frame for `args`.
fn frame(args: &[Bytes]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A byte stream a client might send: frames, inline commands and damage.
pub fn wire_input(rng: &mut Rng, names: &[Vec<Bytes>]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            0 => {
                // Inline, with quotes and escapes.
                let words: Vec<String> = (0..1 + rng.below(4))
                    .map(|_| {
                        let w = String::from_utf8_lossy(&argument(rng)).into_owned();
                        match rng.below(4) {
                            0 => format!("\"{}\"", w.replace('"', "\\x22")),
                            1 => format!("'{w}'"),
                            2 => "\"\\x4".to_string(),
                            _ => w,
                        }
                    })
                    .collect();
                out.extend_from_slice(words.join(" ").as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            1 => {
                // Headers that lie or overflow.
                let n = *rng.pick(&[
                    "-1",
                    "0",
                    "1",
                    "3",
                    "1048576",
                    "2147483647",
                    "2147483648",
                    "-5",
                    "x",
                    "",
                ]);
                out.extend_from_slice(format!("*{n}\r\n${n}\r\n").as_bytes());
            }
            _ => {
                let args = command(rng, names);
                let mut f = frame(&args);
                if rng.one_in(3) && !f.is_empty() {
                    // Damage: flip, cut or insert a byte.
                    let at = rng.below(f.len());
                    match rng.below(3) {
                        0 => f[at] = rng.next_u64() as u8,
                        1 => f.truncate(at),
                        _ => f.insert(at, *rng.pick(b"\r\n*$-0")),
                    }
                }
                out.extend_from_slice(&f);
            }
        }
    }
    out
}

/// What a parse of a whole stream yields: the requests, then how it ended.
type Parsed = (Vec<Vec<Bytes>>, Option<ProtocolError>, usize);

/// Parses `input` handed over in the pieces `cuts` makes; returns the requests, the error
/// (if one ended the stream) and how many bytes were left unparsed.
fn parse_in_pieces(input: &[u8], cuts: &[usize], limits: Limits) -> Result<Parsed, String> {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut fed = 0;
    let mut points: Vec<usize> = cuts.iter().copied().filter(|&c| c < input.len()).collect();
    points.push(input.len());
    points.sort_unstable();
    for end in points {
        if end <= fed {
            continue;
        }
        buf.extend_from_slice(&input[fed..end]);
        fed = end;
        loop {
            let before = buf.len();
            match parser.parse(&mut buf, limits) {
                Ok(None) => {
                    if buf.len() != before {
                        return Err("asked for more input but consumed some".into());
                    }
                    // A frame in progress may reserve room for what it announced, never
                    // more than the bulk limit allows.
                    let allowed = limits.max_bulk_len as usize + 64 * 1024 + buf.len();
                    if buf.capacity() > allowed.max(1 << 20) {
                        return Err(format!("reserved {} bytes", buf.capacity()));
                    }
                    break;
                }
                Ok(Some(args)) => {
                    if args
                        .iter()
                        .any(|a| a.len() as u64 > limits.max_bulk_len.max(64 * 1024))
                    {
                        return Err("an argument exceeds the bulk limit".into());
                    }
                    if buf.len() >= before && !args.is_empty() {
                        return Err("returned a request without consuming input".into());
                    }
                    if !args.is_empty() {
                        requests.push(args);
                    }
                    if buf.len() == before {
                        // `*0` or a blank line consumed nothing: stop to avoid looping.
                        break;
                    }
                }
                // The connection closes here: what was left unread does not matter.
                Err(e) => return Ok((requests, Some(e), 0)),
            }
        }
    }
    Ok((requests, None, buf.len()))
}

/// One parser input: parsed whole and in random pieces, which must agree.
pub fn parser_case(seed: u64, names: &[Vec<Bytes>]) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let input = wire_input(&mut rng, names);
    let limits = Limits {
        max_bulk_len: *rng.pick(&[1024 * 1024, 512 * 1024 * 1024]),
        authenticated: !rng.one_in(4),
    };
    let cuts: Vec<usize> = (0..rng.below(6))
        .map(|_| rng.below(input.len() + 1))
        .collect();
    let whole = parse_in_pieces(&input, &[], limits);
    let pieces = parse_in_pieces(&input, &cuts, limits);
    match (whole, pieces) {
        (Ok(a), Ok(b)) if a == b => Ok(()),
        // A line longer than 64 KiB is refused only while its end has not arrived (Redis
        // checks the same way), so this error depends on how the bytes were split.
        (Ok(_), Ok((_, Some(ProtocolError(e)), _))) if e.contains("too big") => Ok(()),
        (Ok(a), Ok(b)) => Err(format!(
            "input {:?} parses differently in pieces {cuts:?}:\n whole: {a:?}\n split: {b:?}",
            String::from_utf8_lossy(&input)
        )),
        (Err(e), _) | (_, Err(e)) => {
            Err(format!("input {:?}: {e}", String::from_utf8_lossy(&input)))
        }
    }
}

/// Runs `inputs` commands on `session`, checking each reply's encodings.
pub fn execute_case(
    session: &mut Session,
    seed: u64,
    names: &[Vec<Bytes>],
    inputs: usize,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    for _ in 0..inputs {
        let args = command(&mut rng, names);
        // `try_execute` answers at once where `execute` would wait for a blocking command;
        // the block it registered is given up, as a client would that leaves.
        let reply = session
            .try_execute(&args)
            .unwrap_or(rill_engine::Reply::Null);
        if session.take_blocked().is_some() {
            session.unblock();
        }
        // A (un)subscribe answers one frame per channel; every other reply is one frame.
        let frames = match &reply {
            rill_engine::Reply::Many(replies) => replies.len(),
            _ => 1,
        };
        for protocol in [2u8, 3] {
            let mut out = Vec::new();
            reply.encode(protocol, &mut out);
            let mut at = 0;
            for _ in 0..frames {
                match decode_reply(&out[at..]) {
                    Ok(Some((_, used))) => at += used,
                    other => {
                        return Err(format!(
                            "{args:?}: RESP{protocol} reply {:?} is not {frames} whole frame(s) ({other:?})",
                            String::from_utf8_lossy(&out)
                        ))
                    }
                }
            }
            if at != out.len() {
                return Err(format!(
                    "{args:?}: RESP{protocol} reply {:?} has bytes past its {frames} frame(s)",
                    String::from_utf8_lossy(&out)
                ));
            }
        }
    }
    Ok(())
}

/// An engine whose files (SAVE, BGSAVE, BGREWRITEAOF among the fuzzed commands) go to a
/// scratch directory, never the working directory.
fn scratch_engine() -> Engine {
    let dir = std::env::temp_dir().join(format!("rill-fuzz-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut config = rill_engine::Config::default();
    let _ = config.set("dir", &dir.display().to_string(), true);
    Engine::with_config(config)
}

/// Runs `total` execute inputs in sessions of `per_session` commands on one engine (reset
/// now and then so that state does not only grow), from `first_seed` on.
pub fn execute_run(first_seed: u64, total: u64, per_session: usize) -> Result<(), String> {
    let names = command_names();
    let mut engine = scratch_engine();
    let mut done = 0u64;
    let mut seed = first_seed;
    while done < total {
        if seed.is_multiple_of(64) {
            engine = scratch_engine();
        }
        let mut session = engine.session();
        let n = per_session.min((total - done) as usize);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            execute_case(&mut session, seed, &names, n)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("seed {seed}: {e}")),
            Err(_) => {
                return Err(format!(
                    "seed {seed}: panicked (replay: --target execute --seed {seed} --inputs {n})"
                ))
            }
        }
        done += n as u64;
        seed += 1;
    }
    Ok(())
}

/// Runs `total` parser inputs from `first_seed` on.
pub fn parser_run(first_seed: u64, total: u64) -> Result<(), String> {
    let names = command_names();
    for seed in first_seed..first_seed + total {
        let outcome = std::panic::catch_unwind(|| parser_case(seed, &names));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("seed {seed}: {e}")),
            Err(_) => return Err(format!("seed {seed}: panicked")),
        }
    }
    Ok(())
}
