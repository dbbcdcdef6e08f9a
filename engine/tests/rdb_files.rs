//! A fuzz target for the RDB file loader (dump.rdb, AOF bases in RDB form): files are
//! untrusted input. A good file with every RDB feature Rill writes is damaged every way a
//! disk or an attacker could (each byte changed, with the checksum left to catch it or
//! zeroed so the parser sees the damage; each truncation; lengths replaced by huge ones;
//! random bytes after a valid header; value types changed so the unsupported-type skipper
//! runs), and each result is loaded: it loads or is refused with an error, never a panic
//! and never an allocation beyond what the file's size allows.

use bytes::Bytes;
use rill_engine::rdb::file::{decode, LoadOptions};
use rill_engine::{Config, Engine, Reply};

/// A file with strings (plain, integer, compressible), streams of several nodes with
/// deletions, groups, PELs and consumers, expiry times, and two databases.
fn good_file() -> Vec<u8> {
    static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rill-rdb-fuzz-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::open(&dir, Config::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut s = engine.session();
    let mut run = |line: &str| {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let reply = s.execute(&args);
        assert!(!matches!(reply, Reply::Error(_)), "{line}: {reply:?}");
    };
    for i in 1..=150 {
        let fields = if i % 4 == 0 {
            "x 1 y value-y"
        } else {
            "a 5 b 6"
        };
        run(&format!("XADD s {i}-1 {fields}"));
    }
    run("XDEL s 9-1");
    run("XGROUP CREATE s g 0");
    run("XREADGROUP GROUP g alice COUNT 3 STREAMS s >");
    run("XREADGROUP GROUP g bob COUNT 2 STREAMS s >");
    run("XGROUP CREATECONSUMER s g carol");
    run("XGROUP CREATE s h $");
    run("XGROUP CREATE e g $ MKSTREAM");
    // Redis 8 state: a NACK zone (RDB 14) and idempotency (13).
    run("XNACK s g FAIL IDS 2 2-1 1-1");
    run("XNACK s g FATAL IDS 1 140-1 FORCE");
    run("XADD s IDMP p1 iid-1 * f v");
    run("XADD s IDMPAUTO p2 * f v");
    run("XCFGSET e IDMP-MAXSIZE 7");
    run("SET n 123456");
    run(&format!("SET long {}", "abc".repeat(100)));
    run("SET ttl v PX 500000");
    run("SELECT 2");
    run("SET other x");
    run("SAVE");
    drop(s);
    engine.close();
    let file = std::fs::read(dir.join("dump.rdb")).unwrap_or_else(|e| panic!("{e}"));
    assert!(file.starts_with(b"REDIS0014"));
    let _ = std::fs::remove_dir_all(&dir);
    file
}

fn options(skip_unsupported: bool) -> LoadOptions {
    let mut options = LoadOptions::from_config(&Config::default());
    options.skip_unsupported = skip_unsupported;
    options
}

/// Loads `file` both ways (stop and skip on unsupported types); either may fail, neither
/// may panic. Returns whether the strict load succeeded.
fn load(file: &[u8]) -> bool {
    let _ = decode(file, options(true));
    decode(file, options(false)).is_ok()
}

/// The file with its trailing checksum zeroed: Redis's "not computed", so the parser gets
/// to see the damage instead of the checksum refusing it first.
fn unsealed(mut file: Vec<u8>) -> Vec<u8> {
    let n = file.len();
    file[n - 8..].fill(0);
    file
}

#[test]
fn the_good_file_loads() {
    let file = good_file();
    let (loaded, used) = decode(&file, options(false)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(used, file.len());
    assert_eq!(loaded.keys.len(), 6);
}

#[test]
fn every_changed_byte_is_caught_by_the_checksum_or_loads_or_is_refused() {
    let good = good_file();
    let body = good.len() - 8;
    let mut caught = 0;
    for at in 0..body {
        for change in [0x01u8, 0x40, 0xff] {
            let mut bad = good.clone();
            bad[at] ^= change;
            // With the checksum: refused. (A version digit changed to one below 5 names a
            // format without a checksum, which Redis then does not read either.)
            let old_format = (5..9).contains(&at)
                && std::str::from_utf8(&bad[5..9])
                    .ok()
                    .and_then(|v| v.parse::<u16>().ok())
                    .is_some_and(|v| v < 5);
            caught += usize::from(!load(&bad) || old_format);
            // Without: the parser meets the damage itself.
            load(&unsealed(bad));
        }
    }
    assert_eq!(caught, body * 3, "the checksum let a damaged file through");
}

#[test]
fn every_truncation_is_refused() {
    let good = good_file();
    for cut in 0..good.len() {
        assert!(!load(&good[..cut]), "a file cut at {cut} loaded");
        load(&unsealed(good[..cut.max(8)].to_vec()));
    }
}

#[test]
fn huge_lengths_are_refused_before_anything_is_allocated() {
    let good = unsealed(good_file());
    // A 64-bit length (0x81 and 8 bytes), a 32-bit one (0x80 and 4 bytes), an LZF string
    // claiming a huge plain size: each written over every position in turn.
    let huge: [&[u8]; 4] = [
        &[0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x80, 0xff, 0xff, 0xff, 0xff],
        &[
            0xc3, 0x05, 0x81, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        &[0xbf, 0xff],
    ];
    for at in 9..good.len() - 8 {
        for bytes in huge {
            let mut bad = good.clone();
            let end = (at + bytes.len()).min(bad.len());
            bad[at..end].copy_from_slice(&bytes[..end - at]);
            load(&bad);
        }
    }
}

#[test]
fn random_bytes_after_a_valid_header_never_panic() {
    let header = &good_file()[..9];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 300) as usize;
        let mut file = header.to_vec();
        file.extend((0..len).map(|_| next() as u8));
        load(&file);
    }
}

#[test]
fn values_retyped_as_other_redis_types_are_stepped_over_or_refused() {
    let good = unsealed(good_file());
    // Every byte that could be a value's type byte becomes each type Redis has used.
    for at in 9..good.len() - 8 {
        for kind in (0u8..=27).filter(|k| *k != 8) {
            let mut bad = good.clone();
            bad[at] = kind;
            load(&bad);
        }
    }
}
