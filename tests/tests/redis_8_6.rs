//! Redis 8.6's idempotent production, checked directly (Debian's Redis 7.0 does not have it)
//! against the replies Redis's own stream suite and documentation give: XADD IDMP and
//! IDMPAUTO, XCFGSET, the XINFO STREAM fields, `stream-idmp-*`, XIDMPRECORD, MULTI and
//! what a duplicate does (and does not do) to the dataset.

use rill_tests::client::Connection;
use rill_tests::direct::{call, connect, setup};
use rill_tests::mask::NEWER_STREAM_FIELDS;

/// XADD NOMKSTREAM's nil on a missing key (RESP2).
const NIL: &str = "(nil bulk $-1)";

/// Sends `args` as they are (empty ones and ones with spaces included).
fn call_args(c: &mut Connection, args: &[&str]) -> String {
    c.call(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .to_string()
}

/// The integer XINFO STREAM reports for `field`.
fn info(c: &mut Connection, key: &str, field: &str) -> i64 {
    let reply = call(c, &format!("XINFO STREAM {key}"));
    let marker = format!("\"{field}\", :");
    let at = reply
        .find(&marker)
        .unwrap_or_else(|| panic!("{field} missing from {reply}"));
    reply[at + marker.len()..]
        .split([',', ']', '}'])
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{reply}"))
}

/// (pids-tracked, iids-tracked, iids-added, iids-duplicates).
fn counters(c: &mut Connection, key: &str) -> (i64, i64, i64, i64) {
    (
        info(c, key, "pids-tracked"),
        info(c, key, "iids-tracked"),
        info(c, key, "iids-added"),
        info(c, key, "iids-duplicates"),
    )
}

#[test]
fn syntax_errors_come_before_the_key_is_looked_at() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    for (line, error) in [
        (
            "XADD s IDMP p1 * f v",
            "-ERR Invalid stream ID specified as stream command argument",
        ),
        (
            "XADD s IDMP p1 iid1 1-1 f v",
            "-ERR IDMP/IDMPAUTO can be used only with auto-generated IDs",
        ),
        (
            "XADD s IDMPAUTO p1 1-* f v",
            "-ERR IDMP/IDMPAUTO can be used only with auto-generated IDs",
        ),
        (
            "XADD s IDMP p1 a IDMP p1 b * f v",
            "-ERR IDMP/IDMPAUTO specified multiple times",
        ),
        (
            "XADD s IDMPAUTO p1 IDMP p1 b * f v",
            "-ERR IDMP/IDMPAUTO specified multiple times",
        ),
    ] {
        assert_eq!(call(&mut c, line), error, "{line}");
    }
    for (args, error) in [
        (
            &["XADD", "s", "IDMP", "", "a", "*", "f", "v"][..],
            "-ERR IDMP requires a non-empty producer ID",
        ),
        (
            &["XADD", "s", "IDMP", "p", "", "*", "f", "v"],
            "-ERR IDMP requires a non-empty idempotent ID",
        ),
        (
            &["XADD", "s", "IDMPAUTO", "", "*", "f", "v"],
            "-ERR IDMPAUTO requires a non-empty producer ID",
        ),
    ] {
        assert_eq!(call_args(&mut c, args), error, "{args:?}");
    }
    assert_eq!(call(&mut c, "EXISTS s"), ":0");
    // NOMKSTREAM answers nil before any idempotency work.
    assert_eq!(call(&mut c, "XADD s NOMKSTREAM IDMP p1 a * f v"), NIL);
    assert_eq!(call(&mut c, "XADD s NOMKSTREAM IDMPAUTO p1 * f v"), NIL);
    call(&mut c, "SET str v");
    assert_eq!(
        call(&mut c, "XADD str IDMP p a * f v"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn a_retry_answers_the_first_id_and_adds_nothing() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    let first = call(&mut c, "XADD s IDMP p1 req-1 * f v");
    assert_eq!(call(&mut c, "XADD s IDMP p1 req-1 * f other"), first);
    // Options in any order around the idempotency pair; trimming is skipped for a retry.
    assert_eq!(call(&mut c, "XADD s MAXLEN 0 IDMP p1 req-1 * f v"), first);
    assert_eq!(call(&mut c, "XLEN s"), ":1");
    assert_eq!(
        call(&mut c, "XRANGE s - +"),
        format!("[[{first}, [\"f\", \"v\"]]]")
    );
    let second = call(&mut c, "XADD s KEEPREF IDMP p1 req-2 MAXLEN ~ 100 * f v");
    assert_ne!(second, first);
    // Producers are separate namespaces; iids are binary-safe and may look like anything.
    let other = call(&mut c, "XADD s IDMP p2 req-1 * f v");
    assert_ne!(other, first);
    for odd in ["*", "-", "+", "IDMP", "$", "a b\r\nc\0"] {
        let id = call_args(&mut c, &["XADD", "s", "IDMP", "p3", odd, "*", "f", "v"]);
        let again = call_args(&mut c, &["XADD", "s", "IDMP", "p3", odd, "*", "g", "w"]);
        assert_eq!(again, id, "{odd:?}");
    }
    assert_eq!(counters(&mut c, "s"), (3, 9, 9, 8));
    // The mapping outlives its entry: XDEL and trims leave it.
    let gone = first
        .trim_start_matches('"')
        .trim_end_matches('"')
        .to_string();
    call(&mut c, &format!("XDEL s {gone}"));
    call(&mut c, "XTRIM s MAXLEN 0");
    assert_eq!(call(&mut c, "XADD s IDMP p1 req-1 * f v"), first);
    assert_eq!(call(&mut c, "XLEN s"), ":0");
}

#[test]
fn idmpauto_hashes_the_pairs_in_any_order() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    let id = call(&mut c, "XADD s IDMPAUTO p1 * field1 a field2 b");
    assert_eq!(call(&mut c, "XADD s IDMPAUTO p1 * field2 b field1 a"), id);
    assert_ne!(call(&mut c, "XADD s IDMPAUTO p1 * field2 b field3 a"), id);
    // Field names count, not only values; other producers do not share.
    assert_ne!(call(&mut c, "XADD s IDMPAUTO p1 * f1 a f2 b"), id);
    assert_ne!(call(&mut c, "XADD s IDMPAUTO p2 * field1 a field2 b"), id);
    assert_eq!(
        call(&mut c, "XADD s IDMPAUTO p1 * f v f v"),
        "-ERR Failed to create idempotency hash"
    );
    assert_eq!(call(&mut c, "XLEN s"), ":4");
    assert_eq!(counters(&mut c, "s"), (2, 4, 4, 1));
}

#[test]
fn maxsize_evicts_per_producer_and_duration_expires() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    call(&mut c, "XADD s * f v");
    assert_eq!(call(&mut c, "XCFGSET s IDMP-MAXSIZE 3"), "+OK");
    let ids: Vec<String> = (1..=4)
        .map(|i| call(&mut c, &format!("XADD s IDMP p1 req-{i} * f v")))
        .collect();
    call(&mut c, "XADD s IDMP p2 req-1 * f v");
    // req-1 was pushed out of p1's three; p2 keeps its own.
    assert_ne!(call(&mut c, "XADD s IDMP p1 req-1 * f v"), ids[0]);
    assert_eq!(call(&mut c, "XADD s IDMP p1 req-4 * f v"), ids[3]);
    assert_eq!(counters(&mut c, "s"), (2, 4, 6, 1));

    assert_eq!(call(&mut c, "XCFGSET s IDMP-DURATION 1"), "+OK");
    let id = call(&mut c, "XADD s IDMP p1 x * f v");
    assert_eq!(call(&mut c, "XADD s IDMP p1 x * f v"), id);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_ne!(call(&mut c, "XADD s IDMP p1 x * f v"), id);
    // The cron forgets what expired even without another write to the stream.
    call(&mut c, "XADD idle IDMP p y * f v");
    call(&mut c, "XCFGSET idle IDMP-DURATION 1");
    call(&mut c, "XADD idle IDMP p y * f v");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(counters(&mut c, "idle").0, 0);
}

#[test]
fn xcfgset_validates_and_clears_history_only_on_change() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    assert_eq!(
        call(&mut c, "XCFGSET s IDMP-DURATION 5"),
        "-ERR no such key"
    );
    call(&mut c, "XADD s IDMP p1 init * f v");
    for (line, error) in [
        ("XCFGSET s", "-ERR At least one parameter must be specified"),
        ("XCFGSET s IDMP-DURATION", "-ERR syntax error"),
        ("XCFGSET s INVALID", "-ERR syntax error"),
        ("XCFGSET s INVALID 5", "-ERR syntax error"),
        (
            "XCFGSET s IDMP-DURATION A",
            "-ERR value is not an integer or out of range",
        ),
        (
            "XCFGSET s IDMP-DURATION 3.14",
            "-ERR value is not an integer or out of range",
        ),
        (
            "XCFGSET s IDMP-DURATION 000000000",
            "-ERR value is not an integer or out of range",
        ),
        (
            "XCFGSET s IDMP-DURATION INVALID IDMP-MAXSIZE",
            "-ERR value is not an integer or out of range",
        ),
        (
            "XCFGSET s IDMP-DURATION 0",
            "-ERR IDMP-DURATION must be between 1 and 86400 seconds",
        ),
        (
            "XCFGSET s IDMP-DURATION 86401",
            "-ERR IDMP-DURATION must be between 1 and 86400 seconds",
        ),
        (
            "XCFGSET s IDMP-MAXSIZE -50",
            "-ERR IDMP-MAXSIZE must be between 1 and 10000 entries",
        ),
        (
            "XCFGSET s IDMP-MAXSIZE 10001",
            "-ERR IDMP-MAXSIZE must be between 1 and 10000 entries",
        ),
    ] {
        assert_eq!(call(&mut c, line), error, "{line}");
    }
    call(&mut c, "SET str v");
    assert_eq!(
        call(&mut c, "XCFGSET str IDMP-DURATION 5"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // Defaults, untouched by the refused calls; the same values again keep the history.
    assert_eq!(info(&mut c, "s", "idmp-duration"), 100);
    assert_eq!(info(&mut c, "s", "idmp-maxsize"), 100);
    assert_eq!(
        call(&mut c, "XCFGSET s IDMP-DURATION 100 IDMP-MAXSIZE 100"),
        "+OK"
    );
    assert_eq!(counters(&mut c, "s"), (1, 1, 1, 0));
    // A change forgets every iid; the lifetime counters stay and the entries too.
    assert_eq!(
        call(&mut c, "xcfgset s idmp-maxsize 3 idmp-duration 60"),
        "+OK"
    );
    assert_eq!(counters(&mut c, "s"), (0, 0, 1, 0));
    assert_eq!(info(&mut c, "s", "idmp-duration"), 60);
    assert_eq!(info(&mut c, "s", "idmp-maxsize"), 3);
    assert_eq!(call(&mut c, "XLEN s"), ":1");
    call(&mut c, "XADD s IDMP p1 init * f v");
    assert_eq!(call(&mut c, "XLEN s"), ":2");
}

#[test]
fn new_streams_take_the_server_defaults() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    for (line, error) in [
        (
            "CONFIG SET stream-idmp-duration 0",
            "-ERR CONFIG SET failed (possibly related to argument 'stream-idmp-duration') - argument must be between 1 and 86400 inclusive",
        ),
        (
            "CONFIG SET stream-idmp-maxsize 10001",
            "-ERR CONFIG SET failed (possibly related to argument 'stream-idmp-maxsize') - argument must be between 1 and 10000 inclusive",
        ),
    ] {
        assert_eq!(call(&mut c, line), error, "{line}");
    }
    call(&mut c, "XADD before * f v");
    setup(
        &mut c,
        &[
            "CONFIG SET stream-idmp-duration 300",
            "CONFIG SET stream-idmp-maxsize 7",
        ],
    );
    call(&mut c, "XADD after * f v");
    call(&mut c, "XGROUP CREATE grouped g $ MKSTREAM");
    assert_eq!(info(&mut c, "before", "idmp-duration"), 100);
    for key in ["after", "grouped"] {
        assert_eq!(info(&mut c, key, "idmp-duration"), 300);
        assert_eq!(info(&mut c, key, "idmp-maxsize"), 7);
    }
    // The stream's own fields of 8.6 (`nacked-count` belongs to groups; this one has none).
    let full = call(&mut c, "XINFO STREAM after FULL");
    for field in NEWER_STREAM_FIELDS.iter().filter(|f| **f != "nacked-count") {
        assert!(full.contains(&format!("\"{field}\"")), "{field}: {full}");
    }
}

#[test]
fn duplicates_are_no_writes_and_transactions_see_each_other() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    let mut watcher = connect(&rill);
    let id = call(&mut c, "XADD s IDMP p a * f v");
    let changes = |c: &mut Connection| -> String {
        call(c, "INFO persistence")
            .split("\\r\\n")
            .find(|l| l.starts_with("rdb_changes_since_last_save:"))
            .unwrap_or_default()
            .to_string()
    };
    // A retry under WATCH does not abort the other client's transaction, nor count a change.
    setup(&mut watcher, &["WATCH s", "MULTI", "SET k v"]);
    let before = changes(&mut c);
    assert_eq!(call(&mut c, "XADD s IDMP p a * f v"), id);
    assert_eq!(changes(&mut c), before);
    assert_eq!(call(&mut watcher, "EXEC"), "[+OK]");
    // Inside one transaction the second request is the first's duplicate.
    setup(
        &mut c,
        &["MULTI", "XADD s IDMP p b * f v", "XADD s IDMP p b * f v"],
    );
    let exec = call(&mut c, "EXEC");
    let parts: Vec<&str> = exec.trim_matches(['[', ']']).split(", ").collect();
    assert_eq!(parts.len(), 2, "{exec}");
    assert_eq!(parts[0], parts[1]);
    assert_eq!(call(&mut c, "XLEN s"), ":2");
}

#[test]
fn xidmprecord_puts_back_mappings_for_live_entries() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    assert_eq!(call(&mut c, "XIDMPRECORD s p i 1-1"), "-ERR no such key");
    setup(&mut c, &["XADD s 1-1 f v", "XADD s 2-1 f v"]);
    assert_eq!(
        call(&mut c, "XIDMPRECORD s p i 9-9"),
        "-ERR The stream ID does not exist in the stream"
    );
    assert_eq!(
        call_args(&mut c, &["XIDMPRECORD", "s", "", "i", "1-1"]),
        "-ERR IDMP requires a non-empty producer ID"
    );
    assert_eq!(
        call(&mut c, "XIDMPRECORD s p i x"),
        "-ERR Invalid stream ID specified as stream command argument"
    );
    // An iid expires with its entry's time: entry 2-1 is from 1970, so it is forgotten at
    // once and may be recorded again with another ID.
    assert_eq!(call(&mut c, "XIDMPRECORD s p old 2-1"), "+OK");
    assert_eq!(call(&mut c, "XIDMPRECORD s p old 1-1"), "+OK");
    assert_eq!(counters(&mut c, "s").1, 0);
    let unquote = |s: String| s.trim_matches('"').to_string();
    let first = unquote(call(&mut c, "XADD s * f v"));
    let second = unquote(call(&mut c, "XADD s * f v"));
    assert_eq!(call(&mut c, &format!("XIDMPRECORD s p i {first}")), "+OK");
    assert_eq!(call(&mut c, &format!("XIDMPRECORD s p i {first}")), "+OK");
    assert_eq!(
        call(&mut c, &format!("XIDMPRECORD s p i {second}")),
        "-ERR The idempotent ID is already recorded with another stream ID"
    );
    assert_eq!(counters(&mut c, "s").1, 1);
    assert_eq!(
        call(&mut c, "XADD s IDMP p i * f v"),
        format!("\"{first}\"")
    );
}
