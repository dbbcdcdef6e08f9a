//! A blocked XREADGROUP whose timeout fires in the same instant as a write that serves it must
//! not lose the reply: every entry either reaches exactly one client or is not delivered at all.
//!
//! Readers block for 1 to 5 ms while writers add entries without pause, so timeouts and
//! wake-ups collide thousands of times. At the end the group's PEL must hold exactly the
//! entries the clients received, each under the consumer that received it. Before the fix the
//! server could answer nil after the entries had already moved into the consumer's PEL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use rill_tests::client::Connection;
use rill_tests::reply::Reply;

const READERS: usize = 8;
const ROUNDS_PER_READER: usize = 400;
const WRITERS: usize = 2;

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(reply.as_text().unwrap_or_default()).into_owned()
}

/// The IDs in an XREADGROUP reply (`nil` gives none).
fn delivered_ids(reply: &Reply) -> Vec<String> {
    let Reply::Array(streams) = reply else {
        assert!(
            matches!(reply, Reply::NullArray),
            "unexpected reply {reply:?}"
        );
        return Vec::new();
    };
    let mut ids = Vec::new();
    for stream in streams {
        let Reply::Array(pair) = stream else {
            panic!("bad stream element {stream:?}")
        };
        let Some(Reply::Array(entries)) = pair.get(1) else {
            panic!("bad stream element {stream:?}")
        };
        for entry in entries {
            let Reply::Array(parts) = entry else {
                panic!("bad entry {entry:?}")
            };
            ids.push(text(&parts[0]));
        }
    }
    ids
}

#[test]
fn a_served_block_is_never_answered_nil() {
    let server = rill_tests::rill::in_process();
    let addr = server.addr();
    let mut admin = Connection::open(addr).unwrap_or_else(|e| panic!("connect: {e}"));
    let created = admin
        .call(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"])
        .unwrap_or_else(|e| panic!("XGROUP: {e}"));
    assert_eq!(created, Reply::Simple(b"OK".to_vec()));

    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let done = done.clone();
            thread::spawn(move || {
                let mut c = Connection::open(addr).unwrap_or_else(|e| panic!("connect: {e}"));
                let mut added = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let r = c
                        .call(&["XADD", "s", "*", "f", "v"])
                        .unwrap_or_else(|e| panic!("XADD: {e}"));
                    assert!(!r.is_error(), "XADD failed: {r:?}");
                    added += 1;
                }
                added
            })
        })
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            thread::spawn(move || {
                let consumer = format!("c{i}");
                let mut c = Connection::open(addr).unwrap_or_else(|e| panic!("connect: {e}"));
                let mut got = Vec::new();
                for round in 0..ROUNDS_PER_READER {
                    let block = (1 + (round + i) % 5).to_string();
                    let r = c
                        .call(&[
                            "XREADGROUP",
                            "GROUP",
                            "g",
                            &consumer,
                            "COUNT",
                            "1",
                            "BLOCK",
                            &block,
                            "STREAMS",
                            "s",
                            ">",
                        ])
                        .unwrap_or_else(|e| panic!("XREADGROUP: {e}"));
                    got.extend(delivered_ids(&r));
                }
                (consumer, got)
            })
        })
        .collect();
    let mut received: BTreeMap<String, String> = BTreeMap::new();
    for reader in readers {
        let (consumer, ids) = reader.join().unwrap_or_else(|_| panic!("reader panicked"));
        for id in ids {
            if let Some(other) = received.insert(id.clone(), consumer.clone()) {
                panic!("{id} delivered twice: to {other} and {consumer}");
            }
        }
    }
    done.store(true, Ordering::Relaxed);
    let added: u64 = writers
        .into_iter()
        .map(|w| w.join().unwrap_or_else(|_| panic!("writer panicked")))
        .sum();

    let pel = admin
        .call(&["XPENDING", "s", "g", "-", "+", "100000000"])
        .unwrap_or_else(|e| panic!("XPENDING: {e}"));
    let Reply::Array(rows) = pel else {
        panic!("XPENDING answered {pel:?}")
    };
    let pending: BTreeMap<String, String> = rows
        .iter()
        .map(|row| {
            let Reply::Array(fields) = row else {
                panic!("bad XPENDING row {row:?}")
            };
            (text(&fields[0]), text(&fields[1]))
        })
        .collect();
    let lost: BTreeSet<_> = pending
        .keys()
        .filter(|id| !received.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} entries are pending but no client received them (first: {:?}); \
         {} received, {} added",
        lost.len(),
        lost.iter().next(),
        received.len(),
        added
    );
    assert_eq!(
        pending, received,
        "the PEL must hold exactly what the clients received"
    );
    assert!(
        received.len() > READERS,
        "the race was not exercised: only {} deliveries",
        received.len()
    );
}
