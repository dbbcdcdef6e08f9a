//! Consumer-group lag and entries-read as the newest Redis computes them (redis/redis#13338,
//! #13473, #13958): the step-by-step expectations of Redis's own stream-cgroups tests,
//! checked directly because Debian's Redis 7.0 predates these rules.

use rill_tests::client::Connection;
use rill_tests::direct::connect;
use rill_tests::reply::Reply;

fn call(c: &mut Connection, line: &str) -> Reply {
    let args: Vec<&str> = line.split(' ').collect();
    c.call(&args).unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// `entries-read/lag` of `group` on `x` as XINFO GROUPS shows them (`nil` for null).
fn counters(c: &mut Connection, group: &str) -> String {
    let Reply::Array(groups) = call(c, "XINFO GROUPS x") else {
        panic!("XINFO GROUPS");
    };
    for g in groups {
        let Reply::Array(fields) = g else { continue };
        let field = |name: &str| {
            fields
                .chunks(2)
                .find(|p| p[0].as_text() == Some(name.as_bytes()))
                .map(|p| match &p[1] {
                    Reply::Integer(n) => n.to_string(),
                    _ => "nil".to_string(),
                })
                .unwrap_or_default()
        };
        let name = fields
            .chunks(2)
            .find(|p| p[0].as_text() == Some(b"name".as_slice()))
            .and_then(|p| p[1].as_text().map(<[u8]>::to_vec));
        if name.as_deref() == Some(group.as_bytes()) {
            return format!("{}/{}", field("entries-read"), field("lag"));
        }
    }
    panic!("no group {group}")
}

/// Entries `1-0` to `n-0` in `x`.
fn entries(c: &mut Connection, n: u64) {
    for i in 1..=n {
        run(c, &[&format!("XADD x {i}-0 data {i}")]);
    }
}

fn run(c: &mut Connection, lines: &[&str]) {
    for line in lines {
        assert!(!matches!(call(c, line), Reply::Error(_)), "{line}");
    }
}

#[test]
fn a_tombstone_after_the_group_matters_only_while_entries_before_it_remain() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    run(
        &mut c,
        &[
            "XGROUP CREATE x g1 $ MKSTREAM",
            "XADD x 1-0 data a",
            "XREADGROUP GROUP g1 alice STREAMS x >",
            "XADD x 2-0 data c",
            "XADD x 3-0 data d",
            "XDEL x 2-0",
        ],
    );
    assert_eq!(counters(&mut c, "g1"), "1/nil");
    run(&mut c, &["XDEL x 1-0"]);
    assert_eq!(counters(&mut c, "g1"), "1/1");
    run(&mut c, &["XREADGROUP GROUP g1 alice STREAMS x >"]);
    assert_eq!(counters(&mut c, "g1"), "3/0");
}

#[test]
fn lag_after_trims() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    entries(&mut c, 5);
    run(
        &mut c,
        &[
            "XGROUP CREATE x g1 0",
            "XREADGROUP GROUP g1 c COUNT 1 STREAMS x >",
        ],
    );
    assert_eq!(counters(&mut c, "g1"), "1/4");
    run(&mut c, &["XTRIM x MAXLEN 1"]);
    assert_eq!(counters(&mut c, "g1"), "1/1");
    run(&mut c, &["XREADGROUP GROUP g1 c STREAMS x >"]);
    assert_eq!(counters(&mut c, "g1"), "5/0");
    run(&mut c, &["XADD x 6-0 data 6"]);
    assert_eq!(counters(&mut c, "g1"), "5/1");
    run(&mut c, &["XTRIM x MAXLEN 0"]);
    assert_eq!(counters(&mut c, "g1"), "5/0");
}

#[test]
fn lag_after_deletions_and_trims_past_them() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    entries(&mut c, 5);
    run(
        &mut c,
        &["XDEL x 3-0", "XGROUP CREATE x g1 0", "XGROUP CREATE x g2 0"],
    );
    assert_eq!(counters(&mut c, "g1"), "nil/nil");
    for _ in 0..3 {
        run(&mut c, &["XREADGROUP GROUP g1 c COUNT 1 STREAMS x >"]);
        assert_eq!(counters(&mut c, "g1"), "nil/nil");
    }
    run(&mut c, &["XREADGROUP GROUP g1 c COUNT 1 STREAMS x >"]);
    assert_eq!(counters(&mut c, "g1"), "5/0");
    run(&mut c, &["XADD x 6-0 data 6"]);
    assert_eq!(counters(&mut c, "g1"), "5/1");
    run(&mut c, &["XTRIM x MINID = 3-0"]);
    assert_eq!(counters(&mut c, "g1"), "5/1");
    assert_eq!(counters(&mut c, "g2"), "nil/3");
    run(&mut c, &["XTRIM x MINID = 5-0"]);
    assert_eq!(counters(&mut c, "g1"), "5/1");
    assert_eq!(counters(&mut c, "g2"), "nil/2");
}

#[test]
fn lag_in_emptied_streams() {
    let rill = rill_tests::rill::in_process();
    let mut c = connect(&rill);
    run(&mut c, &["XGROUP CREATE x g1 0 MKSTREAM"]);
    assert_eq!(counters(&mut c, "g1"), "nil/0");
    run(&mut c, &["XADD x 1-0 data a", "XDEL x 1-0"]);
    assert_eq!(counters(&mut c, "g1"), "nil/0");
}
