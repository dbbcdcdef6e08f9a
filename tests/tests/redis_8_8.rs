//! Redis 8.8's XNACK, checked directly (Debian's Redis 7.0 does not have it) against the
//! replies Redis's documentation and its own suite give: errors in Redis's order, the modes,
//! RETRYCOUNT and FORCE, the NACK zone served first and in order by every claim, XPENDING and
//! XINFO for entries owned by no one, and blocked claiming readers woken at once.

use std::time::Duration;

use rill_tests::client::Connection;
use rill_tests::direct::{call, connect, setup};

/// Stream `s` with entries 1-0..=n-0, group `g` from the start, and `alice` holding the
/// first `read` of them.
fn delivered(c: &mut Connection, n: u64, read: u64) {
    for i in 1..=n {
        call(c, &format!("XADD s {i}-0 f {i}"));
    }
    setup(
        c,
        &[
            "XGROUP CREATE s g 0",
            &format!("XREADGROUP GROUP g alice COUNT {read} STREAMS s >"),
        ],
    );
}

/// XPENDING's extended rows with the idle column of owned entries masked.
fn pending(c: &mut Connection) -> String {
    let rows = call(c, "XPENDING s g - + 100");
    let mut out = String::new();
    for row in rows.split("], [") {
        let cols: Vec<&str> = row.trim_matches(['[', ']']).split(", ").collect();
        let idle = if cols[2] == ":-1" { ":-1" } else { "idle" };
        out.push_str(&format!("{} {} {} {}; ", cols[0], cols[1], idle, cols[3]));
    }
    out
}

#[test]
fn errors_come_in_redis_s_order() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    delivered(&mut c, 3, 2);
    call(&mut c, "SET str v");
    for (line, error) in [
        (
            "XNACK s g FAIL IDS 1",
            "-ERR wrong number of arguments for 'xnack' command",
        ),
        (
            "XNACK str g BAD IDS 1 1-0",
            "-WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        // The key and group before the mode.
        (
            "XNACK nokey g BAD IDS 1 1-0",
            "-NOGROUP No such key 'nokey' or consumer group 'g'",
        ),
        (
            "XNACK s nog BAD IDS 1 1-0",
            "-NOGROUP No such key 's' or consumer group 'nog'",
        ),
        (
            "XNACK s g BAD IDS 1 1-0",
            "-ERR mode must be SILENT, FAIL, or FATAL",
        ),
        (
            "XNACK s g FAIL IDS 0 1-0",
            "-ERR numids must be a positive integer",
        ),
        (
            "XNACK s g FAIL IDS abc 1-0",
            "-ERR numids must be a positive integer",
        ),
        (
            "XNACK s g FAIL IDS 3 1-0 2-0",
            "-ERR number of IDs doesn't match numids",
        ),
        (
            "XNACK s g FAIL IDS 1 1-0 2-0",
            "-ERR Unrecognized XNACK option '2-0'",
        ),
        (
            "XNACK s g FAIL IDS 1 1-0 FAIL",
            "-ERR Unrecognized XNACK option 'FAIL'",
        ),
        (
            "XNACK s g FAIL RETRYCOUNT x IDS 1 1-0",
            "-ERR value is not an integer or out of range",
        ),
        (
            "XNACK s g FAIL RETRYCOUNT -1 IDS 1 1-0",
            "-ERR Invalid RETRYCOUNT value, must be >= 0",
        ),
        (
            "XNACK s g FAIL FORCE FORCE RETRYCOUNT",
            "-ERR Unrecognized XNACK option 'RETRYCOUNT'",
        ),
        (
            "XNACK s g FAIL FORCE RETRYCOUNT 1 FORCE",
            "-ERR syntax error, expected IDS keyword",
        ),
        // All or nothing: a bad ID anywhere changes nothing.
        (
            "XNACK s g FAIL IDS 2 1-0 bad",
            "-ERR Invalid stream ID specified as stream command argument",
        ),
    ] {
        assert_eq!(call(&mut c, line), error, "{line}");
    }
    assert_eq!(
        pending(&mut c),
        "\"1-0\" \"alice\" idle :1; \"2-0\" \"alice\" idle :1; "
    );
}

#[test]
fn modes_retrycount_and_force_set_the_count() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    delivered(&mut c, 6, 4);
    // Re-read alice's history: counts become 2.
    call(&mut c, "XREADGROUP GROUP g alice STREAMS s 0");
    assert_eq!(call(&mut c, "XNACK s g SILENT IDS 2 1-0 999-0"), ":1");
    assert_eq!(call(&mut c, "xnack s g fail ids 1 2-0"), ":1");
    assert_eq!(call(&mut c, "XNACK s g FATAL IDS 1 3-0"), ":1");
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 1 4-0 RETRYCOUNT 77"), ":1");
    // FORCE makes an unread entry NACKed (count 0 before the mode); not a missing one.
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 1 5-0"), ":0");
    assert_eq!(call(&mut c, "XNACK s g SILENT FORCE IDS 2 5-0 99-0"), ":1");
    // SILENT floors at 0; counting the same ID twice counts twice.
    assert_eq!(call(&mut c, "XNACK s g SILENT IDS 3 5-0 5-0 1-0"), ":3");
    assert_eq!(
        pending(&mut c),
        "\"1-0\" \"\" :-1 :0; \"2-0\" \"\" :-1 :2; \"3-0\" \"\" :-1 :9223372036854775807; \
         \"4-0\" \"\" :-1 :77; \"5-0\" \"\" :-1 :0; "
    );
    // Alice keeps existing, with nothing pending; the group counts every entry.
    let consumers = call(&mut c, "XINFO CONSUMERS s g");
    assert!(consumers.contains("\"pending\", :0"), "{consumers}");
    let groups = call(&mut c, "XINFO GROUPS s");
    assert!(
        groups.contains("\"consumers\", :1, \"pending\", :5"),
        "{groups}"
    );
    let summary = call(&mut c, "XPENDING s g");
    assert_eq!(summary, "[:5, \"1-0\", \"5-0\", []]");
    let full = call(&mut c, "XINFO STREAM s FULL");
    assert!(
        full.contains("\"pel-count\", :5, \"nacked-count\", :5"),
        "{full}"
    );
    assert!(full.contains("[\"1-0\", \"\", :0, :0]"), "{full}");
    // A history read no longer returns them; IDLE never hides them, a consumer filter does.
    assert_eq!(
        call(&mut c, "XREADGROUP GROUP g alice STREAMS s 0"),
        "[[\"s\", []]]"
    );
    assert!(call(&mut c, "XPENDING s g IDLE 999999 - + 10").contains("\"5-0\""));
    assert_eq!(call(&mut c, "XPENDING s g - + 10 alice"), "[]");
    // DELCONSUMER leaves them; XACK takes them.
    assert_eq!(call(&mut c, "XGROUP DELCONSUMER s g alice"), ":0");
    assert_eq!(call(&mut c, "XACK s g 1-0"), ":1");
    assert_eq!(call(&mut c, "XPENDING s g"), "[:4, \"2-0\", \"5-0\", []]");
}

#[test]
fn claims_serve_the_nack_zone_first_and_in_order() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    delivered(&mut c, 5, 4);
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 2 3-0 1-0"), ":2");
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 1 2-0"), ":1");
    // Re-NACKing moves an entry to the end of the zone.
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 1 3-0"), ":1");
    // CLAIM with an idle time nothing owned reaches: the zone only, in NACK order, each one
    // more delivery; then the new entry.
    let read = call(
        &mut c,
        "XREADGROUP GROUP g bob COUNT 3 CLAIM 3600000 STREAMS s >",
    );
    let order: Vec<&str> = read.split('"').filter(|w| w.ends_with("-0")).collect();
    assert_eq!(order, ["1-0", "2-0", "3-0"], "{read}");
    assert!(read.contains(":1]"), "{read}");
    let rows = pending(&mut c);
    assert!(rows.contains("\"1-0\" \"bob\" idle :2"), "{rows}");
    assert!(rows.contains("\"4-0\" \"alice\" idle :1"), "{rows}");

    // XCLAIM and XAUTOCLAIM take a NACKed entry whatever min-idle-time says.
    assert_eq!(call(&mut c, "XNACK s g FATAL IDS 2 4-0 2-0"), ":2");
    assert_eq!(
        call(&mut c, "XCLAIM s g carol 3600000 4-0 JUSTID"),
        "[\"4-0\"]"
    );
    assert_eq!(
        call(&mut c, "XAUTOCLAIM s g dave 3600000 0 JUSTID"),
        "[\"0-0\", [\"2-0\"], []]"
    );
    // A FATAL count stays at the largest through claims.
    assert!(pending(&mut c).contains("\"4-0\" \"carol\" idle :9223372036854775807"));

    // An entry deleted while NACKed is dropped by the claim that meets it.
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 1 1-0"), ":1");
    call(&mut c, "XDEL s 1-0");
    assert_eq!(call(&mut c, "XCLAIM s g erin 0 1-0"), "[]");
    assert!(!pending(&mut c).contains("\"1-0\""));
}

#[test]
fn a_nack_wakes_a_blocked_claiming_reader_and_counts_as_changes() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    delivered(&mut c, 2, 2);
    let changes = |c: &mut Connection| -> u64 {
        call(c, "INFO persistence")
            .split("\\r\\n")
            .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_default()
    };
    // Each NACKed ID is a change; an XNACK that NACKs nothing is none.
    let before = changes(&mut c);
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 3 2-0 1-0 9-0"), ":2");
    assert_eq!(changes(&mut c), before + 2);
    let before = changes(&mut c);
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 1 9-0"), ":0");
    assert_eq!(changes(&mut c), before);
    // Alice takes them back; bob then waits for something claimable.
    call(&mut c, "XCLAIM s g alice 0 1-0 2-0");
    let mut blocked = connect(&rill);
    let reader = std::thread::spawn(move || {
        call(
            &mut blocked,
            "XREADGROUP GROUP g bob BLOCK 5000 CLAIM 3600000 STREAMS s >",
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(call(&mut c, "XNACK s g FAIL IDS 2 2-0 1-0"), ":2");
    let started = std::time::Instant::now();
    let read = reader.join().expect("reader");
    assert!(started.elapsed() < Duration::from_secs(2), "{read}");
    let order: Vec<&str> = read.split('"').filter(|w| w.ends_with("-0")).collect();
    assert_eq!(order, ["2-0", "1-0"], "{read}");
}
