//! Redis 8.2's stream deletion commands and reference policies, checked directly (Debian's
//! Redis 7.0 does not have them) against the replies Redis 8.2–8.6 gives: the vectors of
//! Redis's own tests and of suites validated against real servers. XDELEX, XACKDEL,
//! `KEEPREF | DELREF | ACKED` on XADD and XTRIM, and ENTRIESREAD capped at entries-added.

use rill_tests::client::Connection;
use rill_tests::direct::{call, connect, setup};

/// INFO's `rdb_changes_since_last_save`.
fn changes(c: &mut Connection) -> u64 {
    let info = call(c, "INFO persistence");
    info.split("\\r\\n")
        .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{info}"))
}

/// Entries `1-0` to `n-0` in `s`.
fn entries(c: &mut Connection, n: u64) {
    for i in 1..=n {
        call(c, &format!("XADD s {i}-0 f {i}"));
    }
}

fn ids(c: &mut Connection, command: &str) -> Vec<String> {
    let reply = call(c, command);
    reply
        .split('"')
        .filter(|w| w.ends_with("-0") && w.chars().next().is_some_and(|ch| ch.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn xdelex_errors_and_missing_keys() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    assert_eq!(call(&mut c, "XDELEX nokey IDS 2 1-1 notanid"), "[:-1, :-1]");
    call(&mut c, "SET str v");
    assert_eq!(
        call(&mut c, "XDELEX str garbage more args"),
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    entries(&mut c, 2);
    for (line, error) in [
        (
            "XDELEX s IDS 0 1-0",
            "-ERR Number of IDs must be a positive integer",
        ),
        (
            "XDELEX s IDS x 1-0",
            "-ERR Number of IDs must be a positive integer",
        ),
        (
            "XDELEX s IDS 3 1-0 2-0",
            "-ERR The `numids` parameter must match the number of arguments",
        ),
        ("XDELEX s IDS 1 1-0 2-0", "-ERR syntax error"),
        ("XDELEX s KEEPREF ACKED IDS 1 1-0", "-ERR syntax error"),
        (
            "XDELEX s IDS 1 -",
            "-ERR Invalid stream ID specified as stream command argument",
        ),
        (
            "XDELEX s",
            "-ERR wrong number of arguments for 'xdelex' command",
        ),
    ] {
        assert_eq!(call(&mut c, line), error, "{line}");
    }
    assert_eq!(
        call(&mut c, "XDELEX s IDS 3 1-0 99999-0 99999-1"),
        "[:1, :-1, :-1]"
    );
    assert_eq!(call(&mut c, "XDELEX s IDS 1 2-0 DELREF"), "[:1]");
    assert_eq!(call(&mut c, "XLEN s"), ":0");
    // Deletions are XDEL's: max-deleted-entry-id rose.
    assert!(call(&mut c, "XINFO STREAM s").contains("\"max-deleted-entry-id\", \"2-0\""));
}

#[test]
fn xdelex_policies() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    // Every entry pending: ACKED keeps them all, until the group goes.
    entries(&mut c, 5);
    setup(
        &mut c,
        &["XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s >"],
    );
    let all = "IDS 5 1-0 2-0 3-0 4-0 5-0";
    assert_eq!(
        call(&mut c, &format!("XDELEX s ACKED {all}")),
        "[:2, :2, :2, :2, :2]"
    );
    setup(&mut c, &["XGROUP DESTROY s g"]);
    assert_eq!(
        call(&mut c, &format!("XDELEX s ACKED {all}")),
        "[:1, :1, :1, :1, :1]"
    );

    // Groups positioned at 1-0 and 3-0, nothing pending: entries after the lower position
    // are still needed.
    setup(&mut c, &["DEL s"]);
    entries(&mut c, 3);
    setup(
        &mut c,
        &["XGROUP CREATE s g1 1-0", "XGROUP CREATE s g2 3-0"],
    );
    assert_eq!(call(&mut c, "XDELEX s ACKED IDS 1 1-0"), "[:1]");
    assert_eq!(call(&mut c, "XDELEX s ACKED IDS 1 2-0"), "[:2]");
    setup(&mut c, &["XGROUP DESTROY s g1"]);
    assert_eq!(call(&mut c, "XDELEX s ACKED IDS 1 2-0"), "[:1]");

    // KEEPREF leaves the PEL entries; DELREF removes them, even for entries already gone.
    setup(&mut c, &["DEL s"]);
    entries(&mut c, 3);
    setup(
        &mut c,
        &["XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s >"],
    );
    assert_eq!(call(&mut c, "XDELEX s IDS 1 1-0"), "[:1]");
    assert_eq!(ids(&mut c, "XPENDING s g - + 10"), ["1-0", "2-0", "3-0"]);
    assert_eq!(call(&mut c, "XDELEX s DELREF IDS 2 1-0 2-0"), "[:-1, :1]");
    assert_eq!(ids(&mut c, "XPENDING s g - + 10"), ["3-0"]);
    assert!(call(&mut c, "XINFO CONSUMERS s g").contains("\"pending\", :1"));
}

#[test]
fn xackdel_policies() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    assert_eq!(call(&mut c, "XACKDEL s g IDS 2 1-1 2-2"), "[:-1, :-1]");
    assert_eq!(
        call(&mut c, "XACKDEL s g"),
        "-ERR wrong number of arguments for 'xackdel' command"
    );
    let two_groups = |c: &mut Connection| {
        setup(c, &["DEL s", "XADD s 1-0 f v", "XADD s 2-0 f v"]);
        setup(
            c,
            &[
                "XGROUP CREATE s g1 0",
                "XGROUP CREATE s g2 0",
                "XREADGROUP GROUP g1 c1 STREAMS s >",
                "XREADGROUP GROUP g2 c2 STREAMS s >",
            ],
        );
    };
    two_groups(&mut c);
    assert_eq!(call(&mut c, "XACKDEL s nogroup IDS 1 1-0"), "[:-1]");
    let before = changes(&mut c);
    assert_eq!(
        call(&mut c, "XACKDEL s g1 DELREF IDS 2 1-0 2-0"),
        "[:1, :1]"
    );
    // One change per acknowledgement, as Redis counts them.
    assert_eq!(changes(&mut c), before + 2);
    assert_eq!(call(&mut c, "XLEN s"), ":0");
    assert!(call(&mut c, "XPENDING s g2").starts_with("[:0"));
    assert_eq!(
        call(&mut c, "XACKDEL s g2 DELREF IDS 2 1-0 2-0"),
        "[:-1, :-1]"
    );

    two_groups(&mut c);
    assert_eq!(call(&mut c, "XACKDEL s g1 ACKED IDS 2 1-0 2-0"), "[:2, :2]");
    assert_eq!(call(&mut c, "XLEN s"), ":2");
    assert_eq!(call(&mut c, "XACKDEL s g2 ACKED IDS 2 1-0 2-0"), "[:1, :1]");
    assert_eq!(call(&mut c, "XLEN s"), ":0");

    two_groups(&mut c);
    assert_eq!(call(&mut c, "XACKDEL s g1 IDS 2 1-0 2-0"), "[:1, :1]");
    assert_eq!(call(&mut c, "XLEN s"), ":0");
    assert_eq!(ids(&mut c, "XPENDING s g2 - + 10"), ["1-0", "2-0"]);
    // Pending in g2, already gone from the stream: acknowledged, and 1.
    assert_eq!(
        call(&mut c, "XACKDEL s g2 KEEPREF IDS 2 1-0 2-0"),
        "[:1, :1]"
    );

    // An entry the group never read is not acknowledged, so not deleted.
    setup(&mut c, &["DEL s", "XADD s 1-0 f v", "XGROUP CREATE s g $"]);
    assert_eq!(call(&mut c, "XACKDEL s g KEEPREF IDS 1 1-0"), "[:-1]");
    assert_eq!(call(&mut c, "XLEN s"), ":1");
    // Many IDs at once.
    let many: Vec<String> = (1..=50).map(|i| format!("{i}-9")).collect();
    let reply = call(&mut c, &format!("XACKDEL s g IDS 50 {}", many.join(" ")));
    assert_eq!(reply.matches(":-1").count(), 50);
}

/// Entries 1-0..10-0; the group was delivered 1..6 and acknowledged 1 and 3.
fn ten_read_six_acked_two(c: &mut Connection) {
    setup(c, &["DEL s"]);
    entries(c, 10);
    setup(
        c,
        &[
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g c COUNT 6 STREAMS s >",
            "XACK s g 1-0 3-0",
        ],
    );
}

#[test]
fn trimming_under_each_policy() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    for (trim, removed, pending) in [
        ("MAXLEN = 3 KEEPREF", ":7", vec!["2-0", "4-0", "5-0", "6-0"]),
        ("MAXLEN = 3 DELREF", ":7", vec![]),
        ("MAXLEN = 3 ACKED", ":2", vec!["2-0", "4-0", "5-0", "6-0"]),
        (
            "MINID = 9-0 KEEPREF",
            ":8",
            vec!["2-0", "4-0", "5-0", "6-0"],
        ),
        ("MINID = 9-0 DELREF", ":8", vec![]),
        ("MINID = 9-0 ACKED", ":2", vec!["2-0", "4-0", "5-0", "6-0"]),
    ] {
        ten_read_six_acked_two(&mut c);
        assert_eq!(call(&mut c, &format!("XTRIM s {trim}")), removed, "{trim}");
        assert_eq!(ids(&mut c, "XPENDING s g - + 20"), pending, "{trim}");
    }
    // Groups at $ and 4-0 with nothing pending: what the lower one has passed goes.
    setup(&mut c, &["DEL s"]);
    entries(&mut c, 10);
    setup(&mut c, &["XGROUP CREATE s g1 $", "XGROUP CREATE s g2 4-0"]);
    assert_eq!(call(&mut c, "XTRIM s MAXLEN = 3 ACKED"), ":4");
    // Without groups, ACKED is KEEPREF.
    setup(&mut c, &["DEL s"]);
    entries(&mut c, 10);
    assert_eq!(call(&mut c, "XTRIM s MAXLEN = 3 ACKED"), ":7");
    // ACKED skips what is still needed and may take later entries to reach the length.
    setup(&mut c, &["DEL s"]);
    entries(&mut c, 5);
    setup(
        &mut c,
        &[
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g c STREAMS s >",
            "XACK s g 3-0 4-0 5-0",
        ],
    );
    assert_eq!(call(&mut c, "XTRIM s MAXLEN = 3 ACKED"), ":2");
    assert_eq!(ids(&mut c, "XRANGE s - +"), ["1-0", "2-0", "5-0"]);
    // Twice is an error, each in its command's way.
    assert_eq!(
        call(&mut c, "XTRIM s MAXLEN 1 ACKED ACKED"),
        "-ERR syntax error"
    );
    assert_eq!(
        call(&mut c, "XADD s KEEPREF KEEPREF * f v"),
        "-ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(
        call(&mut c, "XADD s KEEPREF *"),
        "-ERR wrong number of arguments for 'xadd' command"
    );
}

#[test]
fn approximate_trims_under_delref_and_acked_trim_as_redis_8_6() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    for (policy, removed, pending) in [("KEEPREF", 100, 30), ("DELREF", 240, 0), ("ACKED", 120, 30)]
    {
        // Nodes of 100, 100 and 50 entries; the group was delivered 150 and acknowledged
        // the first 120.
        setup(&mut c, &["DEL s"]);
        for i in 1..=250 {
            call(&mut c, &format!("XADD s {i}-0 f v"));
        }
        setup(
            &mut c,
            &[
                "XGROUP CREATE s g 0",
                "XREADGROUP GROUP g c COUNT 150 STREAMS s >",
            ],
        );
        let acks: Vec<String> = (1..=120).map(|i| format!("{i}-0")).collect();
        assert_eq!(
            call(&mut c, &format!("XACK s g {}", acks.join(" "))),
            ":120"
        );
        let expected = if policy == "KEEPREF" { 200 } else { removed };
        assert_eq!(
            call(&mut c, &format!("XTRIM s MAXLEN ~ 10 {policy}")),
            format!(":{expected}"),
            "{policy}"
        );
        assert!(
            call(&mut c, "XPENDING s g").starts_with(&format!("[:{pending}")),
            "{policy}"
        );
    }
}

#[test]
fn xadd_trims_under_a_policy() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    entries(&mut c, 5);
    setup(
        &mut c,
        &[
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g c COUNT 3 STREAMS s >",
            "XACK s g 2-0",
        ],
    );
    assert_eq!(call(&mut c, "XADD s MAXLEN = 2 ACKED 6-0 f 6"), "\"6-0\"");
    assert_eq!(
        ids(&mut c, "XRANGE s - +"),
        ["1-0", "3-0", "4-0", "5-0", "6-0"]
    );
    assert_eq!(ids(&mut c, "XPENDING s g - + 10"), ["1-0", "3-0"]);

    setup(&mut c, &["DEL s"]);
    entries(&mut c, 5);
    setup(
        &mut c,
        &["XGROUP CREATE s g 0", "XREADGROUP GROUP g c STREAMS s >"],
    );
    assert_eq!(call(&mut c, "XADD s DELREF MAXLEN = 2 6-0 f 6"), "\"6-0\"");
    assert_eq!(ids(&mut c, "XRANGE s - +"), ["5-0", "6-0"]);
    assert_eq!(ids(&mut c, "XPENDING s g - + 10"), ["5-0"]);
}

#[test]
fn entriesread_is_capped_at_entries_added() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    setup(
        &mut c,
        &["XADD s 1-1 f v", "XADD s 2-1 f v", "XADD s 3-1 f v"],
    );
    setup(&mut c, &["XGROUP CREATE s g 0 ENTRIESREAD 7"]);
    let info = call(&mut c, "XINFO GROUPS s");
    assert!(info.contains("\"entries-read\", :3, \"lag\", :3"), "{info}");
    setup(&mut c, &["XGROUP SETID s g 2-1 ENTRIESREAD 7"]);
    let info = call(&mut c, "XINFO GROUPS s");
    assert!(info.contains("\"entries-read\", :3, \"lag\", :0"), "{info}");
    assert_eq!(
        call(&mut c, "XGROUP SETID s g 2-1 ENTRIESREAD -2"),
        "-ERR value for ENTRIESREAD must be positive or -1"
    );
}
