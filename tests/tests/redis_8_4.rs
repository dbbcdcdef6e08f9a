//! Redis 8.4's `XREADGROUP ... CLAIM min-idle-time`, checked directly (Debian's Redis 7.0 does
//! not have it) against the behaviour of Redis's own tests: idle pending entries of any
//! consumer are claimed and returned before new ones, every entry carrying its idle time and
//! delivery count before the read, COUNT shared per stream, NOACK for new entries only, and a
//! blocked read served once an entry has been idle long enough.

use std::time::{Duration, Instant};

use rill_tests::direct::{call, connect, setup};

/// Replaces each `:<n>` with n ≥ `at_least` by `:IDLE`, so replies with idle times compare.
fn idle_masked(reply: &str, at_least: i64) -> String {
    reply
        .split(", ")
        .map(|part| {
            let digits = part.trim_start_matches(':').trim_end_matches(']');
            match digits.parse::<i64>() {
                Ok(n) if part.starts_with(':') && n >= at_least => part.replacen(digits, "IDLE", 1),
                _ => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn claim_errors() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    setup(&mut c, &["XADD s 1-0 f v", "XGROUP CREATE s g 0"]);
    for (line, error) in [
        (
            "XREAD CLAIM 10 STREAMS s 0",
            "-ERR The CLAIM option is only supported by XREADGROUP. You called XREAD instead.",
        ),
        (
            "XREADGROUP GROUP g c CLAIM test STREAMS s >",
            "-ERR min-idle-time is not an integer or out of range",
        ),
        (
            "XREADGROUP GROUP g c CLAIM 5.5 STREAMS s >",
            "-ERR min-idle-time is not an integer or out of range",
        ),
        (
            "XREADGROUP GROUP g c CLAIM -10 STREAMS s >",
            "-ERR min-idle-time must be a positive integer",
        ),
        (
            "XREADGROUP GROUP g c CLAIM STREAMS s >",
            "-ERR min-idle-time is not an integer or out of range",
        ),
    ] {
        assert_eq!(call(&mut c, line), error, "{line}");
    }
}

#[test]
fn idle_entries_are_claimed_before_new_ones_with_their_metadata() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    setup(
        &mut c,
        &[
            "XADD s 1-0 f a",
            "XADD s 2-0 f b",
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g alice COUNT 1 STREAMS s >",
        ],
    );
    // Not idle long enough yet: only the new entry, with 0 and 0.
    assert_eq!(
        call(
            &mut c,
            "XREADGROUP GROUP g bob COUNT 1 CLAIM 60000 STREAMS s >"
        ),
        "[[\"s\", [[\"2-0\", [\"f\", \"b\"], :0, :0]]]]"
    );
    std::thread::sleep(Duration::from_millis(30));
    // Both idle now: oldest delivery first, each with its idle time and count before.
    let reply = call(&mut c, "XREADGROUP GROUP g carol CLAIM 20 STREAMS s >");
    assert_eq!(
        idle_masked(&reply, 20),
        "[[\"s\", [[\"1-0\", [\"f\", \"a\"], :IDLE, :1], [\"2-0\", [\"f\", \"b\"], :IDLE, :1]]]]"
    );
    // They moved to carol, delivered once more.
    let pending = call(&mut c, "XPENDING s g - + 10");
    assert!(
        pending.contains("[\"1-0\", \"carol\"") && pending.matches(", :2]").count() == 2,
        "{pending}"
    );
    // COUNT is shared: claimed entries first.
    setup(&mut c, &["XADD s 3-0 f c"]);
    std::thread::sleep(Duration::from_millis(30));
    let reply = call(
        &mut c,
        "XREADGROUP GROUP g dave COUNT 1 CLAIM 20 STREAMS s >",
    );
    assert_eq!(
        idle_masked(&reply, 20),
        "[[\"s\", [[\"1-0\", [\"f\", \"a\"], :IDLE, :2]]]]"
    );
    // A history read ignores CLAIM: two-element entries.
    assert_eq!(
        call(&mut c, "XREADGROUP GROUP g dave CLAIM 0 STREAMS s 0"),
        "[[\"s\", [[\"1-0\", [\"f\", \"a\"]]]]]"
    );
}

#[test]
fn noack_deleted_entries_and_several_streams() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    for key in ["a", "b", "c"] {
        setup(
            &mut c,
            &[
                &format!("XADD {key} 1-0 f v"),
                &format!("XGROUP CREATE {key} g 0"),
                &format!("XREADGROUP GROUP g alice STREAMS {key} >"),
                &format!("XADD {key} 2-0 f v"),
            ],
        );
    }
    // Each stream: its pending entry, then its new one.
    let reply = call(&mut c, "XREADGROUP GROUP g bob CLAIM 0 STREAMS a b c > > >");
    for key in ["a", "b", "c"] {
        assert!(
            reply.contains(&format!("[\"{key}\", [[\"1-0\", [\"f\", \"v\"], :")),
            "{reply}"
        );
    }
    assert_eq!(
        reply.matches("[\"2-0\", [\"f\", \"v\"], :0, :0]").count(),
        3,
        "{reply}"
    );
    // NOACK leaves new entries out of the PEL; claimed ones stay pending.
    setup(&mut c, &["XADD a 3-0 f v"]);
    call(&mut c, "XREADGROUP GROUP g carol NOACK CLAIM 0 STREAMS a >");
    assert!(call(&mut c, "XPENDING a g").starts_with("[:2"));
    // An entry deleted from the stream is passed over and stays pending.
    setup(&mut c, &["XDEL b 1-0"]);
    let reply = call(&mut c, "XREADGROUP GROUP g dave CLAIM 0 STREAMS b >");
    assert!(!reply.contains("1-0") && reply.contains("2-0"), "{reply}");
    assert!(call(&mut c, "XPENDING b g - + 10").contains("\"1-0\", \"bob\""));
}

#[test]
fn a_blocked_claim_read_is_served_once_an_entry_is_idle_long_enough() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    setup(&mut c, &["XADD s 1-0 f v", "XGROUP CREATE s g 0"]);
    // Timed from before the delivery: the entry's idle time counts from it, however long
    // the reply to it takes to come back.
    let started = Instant::now();
    setup(&mut c, &["XREADGROUP GROUP g alice STREAMS s >"]);
    let reply = call(
        &mut c,
        "XREADGROUP GROUP g bob BLOCK 5000 CLAIM 300 STREAMS s >",
    );
    let waited = started.elapsed();
    assert!(reply.contains("\"1-0\""), "{reply}");
    // 300 ms less the few milliseconds the server's clock may cut off: it counts whole
    // milliseconds from a base it renews each second.
    assert!(
        waited >= Duration::from_millis(295) && waited < Duration::from_millis(2000),
        "served after {waited:?}"
    );
    // Nothing claimable and nothing new: the block times out.
    let reply = call(
        &mut c,
        "XREADGROUP GROUP g bob BLOCK 200 CLAIM 60000 STREAMS s >",
    );
    assert_eq!(reply, "(nil array *-1)");
}
