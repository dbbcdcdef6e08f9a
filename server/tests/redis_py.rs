//! redis-py's own tests against rill-server, in RESP2 and RESP3: the stream tests (its 8.1.0
//! sdist's tests/test_commands.py and tests/test_asyncio/test_commands.py, filtered to stream
//! commands), and the tests of hashes (field expiration included), lists, sets, sorted sets,
//! SCAN/TYPE and pub/sub. `.ci/fetch-oracles` unpacks the suite and a virtual environment into
//! target/redis-py.
//!
//! redis-py gates tests by the server's version; Rill reports 7.4.0 and implements the stream
//! commands of Redis 8.2, XREADGROUP CLAIM of 8.4 and MAXCOUNT/MAXSIZE of 8.10, so the
//! `rill_gates` plugin (tests/redis-py) makes the gates see 8.2.2 and opens the later ones by
//! name: every test of a feature Rill has runs, and the ones for what it has not yet (IDMP,
//! XNACK) stay skipped by redis-py's own gates.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::resp::start;
use common::BIN;

/// The stream commands' tests, as `pytest -k` selects them.
const STREAM_TESTS: &str = "xadd or xack or xautoclaim or xclaim or xdel or xgroup or xinfo or xlen or xpending or xrange or xread or xrevrange or xtrim or xnack or idmp or xcfgset or stream";

/// The Redis version redis-py's gates are evaluated against.
const GATES_AT: &str = "8.2.2";

/// Tests of later releases' features Rill has, opened by name.
const OPENED: &str = "claim_min_idle,max_count,max_size,idmp,xcfgset,xinfo_stream_idempotent,xnack";

/// Fewest tests that must pass per protocol (175 at the time of writing): a run that skips
/// nearly everything is a failure, not a pass.
const AT_LEAST: usize = 173;

fn suite() -> Option<(PathBuf, PathBuf)> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let root = target.join("redis-py");
    let (python, tests) = (root.join("venv/bin/python"), root.join("redis-8.1.0"));
    if python.is_file() && tests.join("tests").is_dir() {
        return Some((python, tests));
    }
    eprintln!(
        "SKIPPED redis-py's suite: {} is missing; run .ci/fetch-oracles",
        root.display()
    );
    assert!(
        std::env::var("RILL_REQUIRE_REDIS").as_deref() != Ok("1"),
        "redis-py's suite is required (.ci/fetch-oracles)"
    );
    None
}

/// One run of redis-py's suite against a fresh rill-server, in RESP2 and RESP3: the test
/// files, extra pytest arguments, and the fewest tests that must pass per protocol.
fn run_suite(what: &str, files: &[&str], extra: &[&str], at_least: usize) {
    let Some((python, root)) = suite() else {
        return;
    };
    let plugin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/redis-py");
    let rill = start(BIN, &["--save", ""]);
    for protocol in ["2", "3"] {
        let out = Command::new(&python)
            .current_dir(&root)
            .env("PYTHONPATH", &plugin)
            .args([
                "-m",
                "pytest",
                "-p",
                "rill_gates",
                "-p",
                "no:cacheprovider",
                "-q",
            ])
            .args(files)
            .arg(format!(
                "--redis-url=redis://127.0.0.1:{}/0?protocol={protocol}",
                rill.port
            ))
            .arg(format!("--protocol={protocol}"))
            // Nothing listens there: redis-py's module probe is skipped.
            .arg("--redis-mod-url=redis://127.0.0.1:1")
            .args(["--rill-version", GATES_AT])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("pytest: {e}"));
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        let summary = report.lines().last().unwrap_or_default().to_string();
        assert!(
            out.status.success(),
            "{what} RESP{protocol}: {summary}\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let passed: usize = summary
            .split(", ")
            .find_map(|part| part.trim().strip_suffix(" passed"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert!(passed >= at_least, "{what} RESP{protocol}: {summary}");
        eprintln!("redis-py {what} RESP{protocol}: {summary}");
    }
}

#[test]
fn redis_py_stream_tests_pass_in_resp2_and_resp3() {
    run_suite(
        "streams",
        &[
            "tests/test_commands.py",
            "tests/test_asyncio/test_commands.py",
        ],
        &["-k", STREAM_TESTS, "--rill-ungate", OPENED],
        AT_LEAST,
    );
}

/// The tests of the other data types, as `pytest -k` selects them in test_commands.py.
const TYPE_TESTS: &str = "hset or hget or hmget or hmset or hdel or hlen or hkeys or hvals or hgetall or hincr or hexists or hstrlen or hrandfield or hscan or hsetnx or lpush or rpush or lpop or rpop or llen or lrange or lindex or lset or linsert or lrem or ltrim or lpos or lmove or rpoplpush or lmpop or blpop or brpop or blmove or brpoplpush or blmpop or sadd or srem or scard or sismember or smismember or smembers or spop or srandmember or smove or sinter or sunion or sdiff or sscan or sintercard or zadd or zcard or zcount or zdiff or zincrby or zinter or zlexcount or zmpop or zmscore or zpop or zrandmember or zrange or zrank or zrem or zrevrange or zrevrank or zscan or zscore or zunion or bzpop or bzmpop or zintercard or scan or type";

/// redis-py's tests of hashes (with field expiration, tests/test_hash.py), lists, sets, sorted
/// sets, SCAN and TYPE (tests/test_commands.py), and pub/sub (tests/test_pubsub.py; the
/// tests marked `onlycluster` need a cluster client and are left out, as redis-py's own
/// standalone runs leave them out). 178 and 111 pass per protocol at the time of writing.
#[test]
fn redis_py_type_and_pubsub_tests_pass_in_resp2_and_resp3() {
    run_suite(
        "types",
        &["tests/test_commands.py", "tests/test_hash.py"],
        &["-k", &format!("{TYPE_TESTS} or test_hash")],
        175,
    );
    run_suite(
        "pub/sub",
        &["tests/test_pubsub.py"],
        &["-m", "not onlycluster"],
        108,
    );
}
