//! A small binary-safe RESP client for tests that need exact replies (payloads, nested
//! arrays), and starting Redis or Rill with arguments.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use super::{start_on_free_port, Server};

/// A reply, parsed enough to compare and print.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    /// `+...`
    Simple(String),
    /// `-...`
    Error(String),
    /// `:...`
    Int(i64),
    /// `$...`
    Bulk(Option<Vec<u8>>),
    /// `*...`
    Array(Option<Vec<Resp>>),
}

pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        Conn {
            reader: BufReader::new(s),
        }
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Resp {
        self.send(args).unwrap_or_else(|e| panic!("write: {e}"));
        self.read()
    }

    pub fn cmd(&mut self, line: &str) -> Resp {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.call(&words)
    }

    /// [`Conn::cmd`] that answers `None` instead of panicking when the server is gone before
    /// its whole reply came (a crash loop kills it mid-request).
    pub fn try_cmd(&mut self, line: &str) -> Option<Resp> {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        self.send(&words).ok()?;
        match self.read_reply() {
            Ok(Resp::Error(e)) if e == CLOSED => None,
            reply => reply.ok(),
        }
    }

    fn send(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&out)
    }

    fn read(&mut self) -> Resp {
        self.read_reply().unwrap_or_else(|e| panic!("read: {e}"))
    }

    /// One whole reply; a connection closed before it starts reads as the error [`CLOSED`].
    fn read_reply(&mut self) -> std::io::Result<Resp> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        if line.is_empty() {
            return Ok(Resp::Error(CLOSED.into()));
        }
        let (kind, rest) = line.split_at(1);
        Ok(match kind {
            "+" => Resp::Simple(rest.into()),
            "-" => Resp::Error(rest.into()),
            ":" => Resp::Int(rest.parse().unwrap_or(0)),
            "$" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                if n < 0 {
                    return Ok(Resp::Bulk(None));
                }
                let mut data = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut data)?;
                data.truncate(n as usize);
                Resp::Bulk(Some(data))
            }
            "*" => {
                let n: i64 = rest.parse().unwrap_or(-1);
                if n < 0 {
                    return Ok(Resp::Array(None));
                }
                let items: std::io::Result<Vec<Resp>> = (0..n).map(|_| self.read_reply()).collect();
                Resp::Array(Some(items?))
            }
            _ => panic!("unexpected reply line {line:?}"),
        })
    }
}

/// What [`Conn`] reads when the server closed the connection before a reply.
const CLOSED: &str = "connection closed";

/// Clock readings (idle times, delivery, seen and active times) replaced by 0: an integer
/// is a reading when it is a Unix time in ms, or an idle time in a PEL row.
pub fn mask_clock_readings(reply: Resp) -> Resp {
    match reply {
        Resp::Int(n) if n > 1_000_000_000_000 => Resp::Int(0),
        Resp::Array(Some(items)) => {
            // An XPENDING row: [id, consumer, idle, count].
            let row = items.len() == 4
                && matches!(items[1], Resp::Bulk(_))
                && matches!(items[2], Resp::Int(_))
                && matches!(items[3], Resp::Int(_));
            let mut items: Vec<Resp> = items.into_iter().map(mask_clock_readings).collect();
            if row {
                items[2] = Resp::Int(0);
            }
            Resp::Array(Some(items))
        }
        other => other,
    }
}

/// The XINFO STREAM fields of idempotent production (Redis 8.6) and the groups' `nacked-count`
/// (8.8), which the older servers these tests compare with do not report.
pub const NEWER_STREAM_FIELDS: [&str; 7] = [
    "nacked-count",
    "idmp-duration",
    "idmp-maxsize",
    "pids-tracked",
    "iids-tracked",
    "iids-added",
    "iids-duplicates",
];

/// `reply` without the named fields of its (RESP2, flat) maps, at any depth: a field and its
/// value go together. For comparisons with servers older than the fields.
pub fn without_fields(reply: Resp, names: &[&str]) -> Resp {
    match reply {
        Resp::Array(Some(items)) => {
            let mut kept = Vec::with_capacity(items.len());
            let mut skip_next = false;
            for item in items {
                let named = matches!(&item, Resp::Bulk(Some(b)) if names.iter().any(|n| n.as_bytes() == b.as_slice()));
                if skip_next {
                    skip_next = false;
                } else if named {
                    skip_next = true;
                } else {
                    kept.push(without_fields(item, names));
                }
            }
            Resp::Array(Some(kept))
        }
        other => other,
    }
}

/// The first 9 bytes of an RDB file (`REDIS` and its version), or less when missing.
pub fn rdb_header(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(&bytes[..bytes.len().min(9)]).into_owned()
}

/// A server's arguments for a test of the log: its directory, no save points, the AOF on,
/// bases in RDB form (`preamble` "yes") or as commands ("no").
pub fn logged_server_args(dir: &std::path::Path, preamble: &str) -> ServerArgs {
    let dir = dir.to_string_lossy().into_owned();
    ServerArgs(
        [
            "--dir",
            &dir,
            "--save",
            "",
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            preamble,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
}

/// Owned command-line arguments.
pub struct ServerArgs(Vec<String>);

impl ServerArgs {
    /// The arguments as [`start`] takes them.
    pub fn each(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

/// Waits until the server behind `c` has no AOF rewrite running.
pub fn wait_for_rewrite(c: &mut Conn) {
    for _ in 0..1000 {
        if let Resp::Bulk(Some(info)) = c.cmd("INFO persistence") {
            if String::from_utf8_lossy(&info).contains("aof_rewrite_in_progress:0") {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("the rewrite did not finish");
}

/// Whether redis-server is installed; skips loudly, or fails under RILL_REQUIRE_REDIS=1.
pub fn redis_available() -> bool {
    let found = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|p| p.join("redis-server").is_file())
    });
    if !found {
        eprintln!("SKIPPED DUMP/RESTORE interchange: redis-server is not installed");
        assert!(
            std::env::var("RILL_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-server is required"
        );
    }
    found
}

/// A server fetched by `.ci/fetch-oracles` into `target/oracles` (`redis-6.2-server`,
/// `valkey-8.1-server`): its path, or `None` with a loud skip (a failure under
/// RILL_REQUIRE_REDIS=1).
pub fn oracle(name: &str) -> Option<String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("oracles").join(name);
    if path.is_file() {
        return Some(path.to_string_lossy().into_owned());
    }
    eprintln!(
        "SKIPPED: {} is missing; run .ci/fetch-oracles",
        path.display()
    );
    assert!(
        std::env::var("RILL_REQUIRE_REDIS").as_deref() != Ok("1"),
        "{name} is required (.ci/fetch-oracles)"
    );
    None
}

/// Starts `program` on a free port with `extra` arguments.
/// Without a `--dir` in `extra`, it runs in a fresh temporary directory, so that no file of
/// another run (a dump.rdb) is loaded and none is left behind in the source tree.
pub fn start(program: &str, extra: &[&str]) -> Server {
    start_on_free_port("127.0.0.1", |port| {
        let mut command = Command::new(program);
        command.args(["--port", &port.to_string()]).args(extra);
        if !extra.contains(&"--dir") {
            let dir = std::env::temp_dir().join(format!("rill-test-{}-{port}", std::process::id()));
            let _ = std::fs::create_dir_all(&dir);
            command.arg("--dir").arg(dir);
        }
        command
    })
}
