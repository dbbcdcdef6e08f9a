//! NACKed entries (Redis 8.8's XNACK) survive what Redis says they survive: a snapshot
//! (RDB 14, type 27), DUMP/RESTORE and COPY, the log replayed, and a rewrite in both base
//! forms (the command form batches `XNACK ... FAIL IDS n ... RETRYCOUNT c FORCE` by 64 and by
//! equal count). After each, the counts, the missing owners and the claim order are intact.

mod common;

use common::resp::{logged_server_args, rdb_header, start, wait_for_rewrite, Conn, Resp};
use common::{d, scratch, BIN};

/// 70 entries; alice reads 60; 65 are NACKed with mixed counts, in a scrambled order.
fn nack_many(c: &mut Conn) {
    for i in 1..=70 {
        c.cmd(&format!("XADD s {i}-0 f {i}"));
    }
    c.cmd("XGROUP CREATE s g 0");
    c.cmd("XREADGROUP GROUP g alice COUNT 60 STREAMS s >");
    for i in (1..=60).rev().step_by(2).chain((1..=60).step_by(2)) {
        let mode = if i % 7 == 0 { "FATAL" } else { "FAIL" };
        assert_eq!(
            c.cmd(&format!("XNACK s g {mode} IDS 1 {i}-0")),
            Resp::Int(1)
        );
    }
    // Never delivered: FORCE, with counts of their own.
    for i in 61..=65 {
        let reply = c.cmd(&format!(
            "XNACK s g SILENT IDS 1 {i}-0 FORCE RETRYCOUNT {i}"
        ));
        assert_eq!(reply, Resp::Int(1));
    }
    // One stays owned.
    c.cmd("XCLAIM s g alice 0 30-0");
}

/// The group's pending entries: ID, owner ("" when NACKed) and count (idle times are clock
/// readings).
fn nack_view(c: &mut Conn, key: &str) -> Vec<Resp> {
    match c.cmd(&format!("XPENDING {key} g - + 1000")) {
        Resp::Array(Some(rows)) => rows
            .into_iter()
            .map(|row| match row {
                Resp::Array(Some(mut cols)) => {
                    cols.remove(2);
                    Resp::Array(Some(cols))
                }
                other => other,
            })
            .collect(),
        other => panic!("XPENDING: {other:?}"),
    }
}

/// The order the NACK zone is claimed in: a claiming read of everything.
fn claim_order(c: &mut Conn, key: &str) -> Vec<Vec<u8>> {
    c.cmd("DEL probe");
    c.cmd(&format!("COPY {key} probe"));
    let Resp::Array(Some(streams)) =
        c.cmd("XREADGROUP GROUP g bob COUNT 1000 CLAIM 3600000 STREAMS probe >")
    else {
        panic!("claiming read");
    };
    let mut ids = Vec::new();
    if let Some(Resp::Array(Some(pair))) = streams.into_iter().next() {
        if let Some(Resp::Array(Some(entries))) = pair.into_iter().nth(1) {
            for entry in entries {
                if let Resp::Array(Some(parts)) = entry {
                    if let Some(Resp::Bulk(Some(id))) = parts.into_iter().next() {
                        ids.push(id);
                    }
                }
            }
        }
    }
    c.cmd("DEL probe");
    ids
}

#[test]
fn snapshots_payloads_and_copies_keep_nacked_entries() {
    let dir = scratch("nack-rdb");
    let rill = start(BIN, &["--dir", d(&dir), "--save", ""]);
    let mut c = Conn::new(rill.port);
    nack_many(&mut c);
    let rows = nack_view(&mut c, "s");
    let order = claim_order(&mut c, "s");
    assert_eq!(
        order.len(),
        64 + 10,
        "the zone (30-0 was claimed back), then the unread"
    );
    assert_eq!(order[0], b"60-0".to_vec());
    let Resp::Bulk(Some(payload)) = c.cmd("DUMP s") else {
        panic!("DUMP");
    };
    assert_eq!(payload[0], 27, "RDB_TYPE_STREAM_LISTPACKS_5");
    assert_eq!(&payload[payload.len() - 10..][..2], &[14, 0]);
    assert_eq!(
        c.call(&[b"RESTORE", b"copy", b"0", &payload]),
        Resp::Simple("OK".into())
    );
    assert_eq!(nack_view(&mut c, "copy"), rows);
    assert_eq!(claim_order(&mut c, "copy"), order);
    assert_eq!(c.cmd("SAVE"), Resp::Simple("OK".into()));
    assert_eq!(rdb_header(&dir.join("dump.rdb")), "REDIS0014");
    drop(rill);
    let rill = start(BIN, &["--dir", d(&dir), "--save", ""]);
    let mut c = Conn::new(rill.port);
    assert_eq!(nack_view(&mut c, "s"), rows);
    assert_eq!(claim_order(&mut c, "s"), order);
    drop(rill);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_log_and_its_rewrites_keep_nacked_entries() {
    for preamble in ["yes", "no"] {
        let dir = scratch(&format!("nack-aof-{preamble}"));
        let args = logged_server_args(&dir, preamble);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        nack_many(&mut c);
        let rows = nack_view(&mut c, "s");
        let order = claim_order(&mut c, "s");
        drop(rill);
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        assert_eq!(nack_view(&mut c, "s"), rows, "{preamble}: replayed");
        assert_eq!(claim_order(&mut c, "s"), order, "{preamble}: replayed");
        assert!(matches!(c.cmd("BGREWRITEAOF"), Resp::Simple(_)));
        wait_for_rewrite(&mut c);
        drop(rill);
        if preamble == "no" {
            let base = std::fs::read_dir(dir.join("appendonlydir"))
                .expect("appendonlydir")
                .filter_map(Result::ok)
                .find(|e| e.file_name().to_string_lossy().contains(".base."))
                .expect("a base");
            let text = String::from_utf8_lossy(&std::fs::read(base.path()).unwrap_or_default())
                .into_owned();
            // 65 NACKed entries in runs of equal counts, none longer than 64.
            let batches = text.matches("XNACK").count();
            assert!(batches >= 2, "{batches}");
            assert!(!text.contains("$3\r\nIDS\r\n$2\r\n65\r\n"));
        }
        let rill = start(BIN, &args.each());
        let mut c = Conn::new(rill.port);
        assert_eq!(nack_view(&mut c, "s"), rows, "{preamble}: rewritten");
        assert_eq!(claim_order(&mut c, "s"), order, "{preamble}: rewritten");
        drop(rill);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
