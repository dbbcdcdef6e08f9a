//! Redis 8.10's MAXCOUNT and MAXSIZE on XREAD and XREADGROUP, checked directly (Debian's
//! Redis 7.0 does not have them): a cap on the entries of the whole reply, streams served in
//! the order named, and a soft cap on its bytes that always lets the first entry through.

use rill_tests::client::Connection;
use rill_tests::direct::call;

fn entries(reply: &str) -> usize {
    reply.matches("[\"f\", ").count()
}

#[test]
fn caps_over_the_whole_reply() {
    let rill = rill_tests::rill::in_process();
    let mut c = Connection::open(rill.addr()).unwrap_or_else(|e| panic!("{e}"));
    for i in 1..=3 {
        call(&mut c, &format!("XADD a {i}-0 f {i}"));
        call(&mut c, &format!("XADD b {i}-0 f {i}"));
    }
    // COUNT per stream, MAXCOUNT over both, in the order named.
    let reply = call(&mut c, "XREAD COUNT 3 MAXCOUNT 4 STREAMS a b 0 0");
    assert_eq!(entries(&reply), 4, "{reply}");
    assert!(reply.starts_with("[[\"a\", [[\"1-0\""), "{reply}");
    let reply = call(&mut c, "XREAD MAXCOUNT 2 STREAMS a b 0 0");
    assert_eq!(entries(&reply), 2, "{reply}");
    assert!(!reply.contains("\"b\""), "{reply}");
    // MAXSIZE is soft: the first entry always comes, then no more once past it.
    assert_eq!(entries(&call(&mut c, "XREAD MAXSIZE 1 STREAMS a b 0 0")), 1);
    assert_eq!(
        entries(&call(&mut c, "XREAD MAXSIZE 65536 STREAMS a b 0 0")),
        6
    );
    // A group read delivers only what it returns.
    call(&mut c, "XGROUP CREATE a g 0");
    let reply = call(&mut c, "XREADGROUP GROUP g c MAXCOUNT 2 STREAMS a >");
    assert_eq!(entries(&reply), 2, "{reply}");
    assert!(call(&mut c, "XPENDING a g").starts_with("[:2, \"1-0\", \"2-0\""));
    assert!(call(&mut c, "XINFO GROUPS a").contains("\"last-delivered-id\", \"2-0\""));
}

#[test]
fn cap_errors() {
    let rill = rill_tests::rill::in_process();
    let mut c = Connection::open(rill.addr()).unwrap_or_else(|e| panic!("{e}"));
    for (line, error) in [
        (
            "XREAD MAXCOUNT 0 STREAMS s 0",
            "-ERR MAXCOUNT must be a positive integer",
        ),
        (
            "XREAD MAXCOUNT -1 STREAMS s 0",
            "-ERR MAXCOUNT must be a positive integer",
        ),
        (
            "XREAD MAXSIZE 0 STREAMS s 0",
            "-ERR MAXSIZE must be a positive integer",
        ),
        (
            "XREAD COUNT 5 MAXCOUNT 3 STREAMS s 0",
            "-ERR MAXCOUNT must be greater than or equal to COUNT",
        ),
    ] {
        assert_eq!(call(&mut c, line), error, "{line}");
    }
}
