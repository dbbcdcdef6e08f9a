//! Runs cases on Redis and on the server under test, and collects every mismatch.
//!
//! Commands are interleaved: each line goes to Redis, then to the other server, before the next
//! line. Both servers therefore see nearly the same wall clock, which keeps TTLs and auto IDs
//! comparable, and a mismatch is reported at the exact line where behaviour diverged. A case
//! keeps running after a mismatch so that one run lists every difference, not only the first.

use crate::case::{Action, Case, CaseFile, Step};
use crate::client::{failure_as_reply, Connection};
use crate::mask::{equivalent, normalize, without_newer_fields, IdMasker, Masking};
use crate::oracle::RedisServer;
use crate::reply::{escape, Reply};
use crate::rill::ServerUnderTest;
use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Set to `1` to print every command with Redis's reply: the quickest way to review what a case
/// file really exercises (a typo shows up as an unexpected error).
pub const DUMP_ENV: &str = "RILL_DIFF_DUMP";

/// A SCAN loop that has not reached cursor 0 after this many calls is a bug, not slowness.
const MAX_SCAN_CALLS: usize = 10_000;

/// Reports print replies up to this many characters, then say how much was cut.
const MAX_PRINTED_REPLY: usize = 4_000;

/// The oracle and the server under test, both running.
pub struct Servers {
    /// Debian's redis-server: the specification.
    pub oracle: RedisServer,
    /// Rill (or a second redis-server in selftest mode).
    pub under_test: ServerUnderTest,
}

impl Servers {
    /// Starts both servers, or `None` when redis-server is not installed (the test skips; see
    /// [`RedisServer::start`] for the `RILL_REQUIRE_REDIS` rule).
    pub fn start() -> Option<Servers> {
        let oracle = RedisServer::start()?;
        let under_test = ServerUnderTest::start()?;
        Some(Servers { oracle, under_test })
    }
}

/// One divergence between Redis and the server under test.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// Case file name, or `proptest` for generated sequences.
    pub file: String,
    /// Case name.
    pub case: String,
    /// Line in the case file (0 for the per-case setup).
    pub line: usize,
    /// The command as written (or as generated).
    pub command: String,
    /// Which connection and repetition, when that is not obvious.
    pub context: String,
    /// Redis's reply, normalised and printed.
    pub redis: String,
    /// The other server's reply, normalised and printed.
    pub other: String,
    /// `rill` or `redis#2`.
    pub other_label: &'static str,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "MISMATCH {}:{}  case {:?}{}",
            self.file, self.line, self.case, self.context
        )?;
        writeln!(f, "  command: {}", self.command)?;
        writeln!(f, "  redis:   {}", self.redis)?;
        write!(
            f,
            "  {:<8} {}",
            format!("{}:", self.other_label),
            self.other
        )
    }
}

/// The outcome of a differential run.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases run.
    pub cases: usize,
    /// Command lines run (a `!repeat` line counts once, its repetitions are all compared).
    pub commands: usize,
    /// Every mismatch, in run order.
    pub mismatches: Vec<Mismatch>,
}

impl Report {
    /// The line the run ends with; tooling greps for it.
    pub fn summary(&self) -> String {
        format!(
            "differential: {} cases, {} commands, {} mismatches",
            self.cases,
            self.commands,
            self.mismatches.len()
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for mismatch in &self.mismatches {
            writeln!(f, "{mismatch}\n")?;
        }
        write!(f, "{}", self.summary())
    }
}

/// Runs every case of every file and returns the full report.
pub fn run_files(files: &[CaseFile], servers: &Servers) -> Report {
    let mut report = Report::default();
    for file in files {
        for case in &file.cases {
            run_case(file, case, servers, &mut report);
        }
    }
    report
}

/// Runs one case on fresh connections and appends its mismatches to `report`.
pub fn run_case(file: &CaseFile, case: &Case, servers: &Servers, report: &mut Report) {
    report.cases += 1;
    let dump = std::env::var(DUMP_ENV).as_deref() == Ok("1");
    let mut duel = Duel::new(servers, case.resp3);
    let params: Vec<Vec<u8>> = case
        .steps
        .iter()
        .flat_map(Step::config_set_params)
        .collect();
    let saved = duel.save_config(&params);
    let mismatch = |line: usize, command: String, context: String, outcome: Outcome| Mismatch {
        file: file.name.clone(),
        case: case.name.clone(),
        line,
        command,
        context,
        redis: printable(&outcome.redis),
        other: printable(&outcome.other),
        other_label: servers.under_test.label(),
    };
    for (args, outcome) in duel.setup() {
        if !outcome.matches {
            report.mismatches.push(mismatch(
                case.line,
                args,
                " (per-case setup)".into(),
                outcome,
            ));
        }
    }
    for step in &case.steps {
        report.commands += 1;
        let expansions = step.expansions();
        let total = expansions.len();
        for (i, action) in expansions.iter().enumerate() {
            let outcome = duel.exchange(step.connection, action, &step.masking);
            if dump {
                eprintln!(
                    "{}:{}  {}  => {}",
                    file.name,
                    step.line,
                    describe(action),
                    printable(&outcome.redis)
                );
            }
            if !outcome.matches {
                let mut context = String::new();
                if step.connection > 0 {
                    context.push_str(&format!(" (connection {})", step.connection + 1));
                }
                if step.repeat.is_some() {
                    context.push_str(&format!(
                        " (repetition {}/{total}: {})",
                        i + 1,
                        describe(action)
                    ));
                }
                report
                    .mismatches
                    .push(mismatch(step.line, step.source.clone(), context, outcome));
                // One mismatch per line: the rest of a repeat usually fails the same way.
                break;
            }
        }
    }
    duel.restore_config(&saved);
}

/// The result of sending one action to both servers.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Redis's reply after normalisation.
    pub redis: Reply,
    /// The other server's reply after normalisation.
    pub other: Reply,
    /// Whether they are equivalent under the line's masking.
    pub matches: bool,
}

/// Both servers' sides of one case (or one generated sequence).
pub struct Duel {
    redis: Side,
    other: Side,
}

impl Duel {
    /// Fresh sides (connections open lazily) for one case.
    pub fn new(servers: &Servers, resp3: bool) -> Duel {
        Duel {
            redis: Side::new(servers.oracle.addr(), resp3),
            other: Side::new(servers.under_test.addr(), resp3),
        }
    }

    /// `FLUSHALL` then `SELECT 0` on the first connection of both servers. Returns each setup
    /// command with its outcome, so a server that fails its setup is reported, not ignored.
    pub fn setup(&mut self) -> Vec<(String, Outcome)> {
        ["FLUSHALL", "SELECT 0"]
            .iter()
            .map(|command| {
                let args: Vec<Vec<u8>> =
                    command.split(' ').map(|a| a.as_bytes().to_vec()).collect();
                (
                    command.to_string(),
                    self.exchange(0, &Action::Command(args), &Masking::default()),
                )
            })
            .collect()
    }

    /// Sends one action to Redis, then to the other server, and compares the normalised replies.
    pub fn exchange(&mut self, connection: usize, action: &Action, masking: &Masking) -> Outcome {
        let redis = self.redis.execute(connection, action);
        let mut other = self.other.execute(connection, action);
        if let Action::Command(args) = action {
            other = without_newer_fields(args, other);
        }
        let redis = normalize(redis, masking, &mut self.redis.ids);
        let other = normalize(other, masking, &mut self.other.ids);
        let matches = equivalent(&redis, &other, masking);
        Outcome {
            redis,
            other,
            matches,
        }
    }

    /// Sends a command to Redis only, unnormalised. Generated tests use it to ask the oracle
    /// about state before deciding whether a command belongs in a comparison.
    pub fn ask_redis(&mut self, args: &[Vec<u8>]) -> Reply {
        self.redis.execute(0, &Action::Command(args.to_vec()))
    }

    /// Sends a command to the server under test only, unnormalised: the counterpart of
    /// [`Duel::ask_redis`], for generated tests that compare a reply under rules of their own.
    pub fn ask_other(&mut self, args: &[Vec<u8>]) -> Reply {
        self.other.execute(0, &Action::Command(args.to_vec()))
    }

    /// Reads the current values of config parameters a case is about to change.
    fn save_config(&mut self, params: &[Vec<u8>]) -> SavedConfig {
        if params.is_empty() {
            return SavedConfig::default();
        }
        SavedConfig {
            redis: self.redis.config_values(params),
            other: self.other.config_values(params),
        }
    }

    /// Puts saved config parameters back on fresh connections.
    fn restore_config(&mut self, saved: &SavedConfig) {
        if !saved.redis.is_empty() {
            self.redis.restore(&saved.redis);
        }
        if !saved.other.is_empty() {
            self.other.restore(&saved.other);
        }
    }
}

/// Config parameters (name, value) as they were before a case that runs `CONFIG SET`.
#[derive(Default)]
struct SavedConfig {
    redis: Vec<(Vec<u8>, Vec<u8>)>,
    other: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One server's connections and ID numbering within a case.
struct Side {
    addr: SocketAddr,
    resp3: bool,
    connections: [Option<Connection>; 2],
    ids: IdMasker,
}

impl Side {
    fn new(addr: SocketAddr, resp3: bool) -> Side {
        Side {
            addr,
            resp3,
            connections: [None, None],
            ids: IdMasker::new(),
        }
    }

    /// The connection, opened on first use (and reopened after `QUIT` or a failure).
    fn connection(&mut self, index: usize) -> io::Result<&mut Connection> {
        let slot = &mut self.connections[index];
        if slot.is_none() {
            let mut conn = Connection::open(self.addr)?;
            if self.resp3 {
                let hello = conn.call(&["HELLO", "3"])?;
                if hello.is_error() {
                    return Err(io::Error::other(format!("HELLO 3 refused: {hello}")));
                }
            }
            *slot = Some(conn);
        }
        slot.as_mut()
            .ok_or_else(|| io::Error::other("connection slot empty"))
    }

    /// Runs one action and returns the reply, or a `Missing` reply saying why there was none.
    fn execute(&mut self, index: usize, action: &Action) -> Reply {
        let result = match action {
            Action::Command(args) => self.connection(index).and_then(|c| c.call(args)),
            Action::Raw(bytes) => self.connection(index).and_then(|c| {
                c.send_raw(bytes)?;
                c.read_reply()
            }),
            Action::Scan(args) => self.connection(index).and_then(|c| scan_to_end(c, args)),
        };
        let quit = matches!(action, Action::Command(args) if args.first().is_some_and(|a| a.eq_ignore_ascii_case(b"QUIT")));
        match result {
            Ok(reply) => {
                if quit {
                    // The server closes after replying to QUIT; the next line gets a new connection.
                    self.connections[index] = None;
                }
                reply
            }
            Err(err) => {
                self.connections[index] = None;
                failure_as_reply(&err)
            }
        }
    }

    fn config_values(&mut self, params: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut values = Vec::new();
        for param in params {
            let args = vec![b"CONFIG".to_vec(), b"GET".to_vec(), param.clone()];
            let pair = match self.execute(0, &Action::Command(args)) {
                Reply::Array(items) if items.len() == 2 => {
                    Some((items[0].clone(), items[1].clone()))
                }
                Reply::Map(pairs) if pairs.len() == 1 => pairs.into_iter().next(),
                _ => None,
            };
            if let Some((Some(name), Some(value))) =
                pair.as_ref().map(|(n, v)| (n.as_text(), v.as_text()))
            {
                values.push((name.to_vec(), value.to_vec()));
            }
        }
        values
    }

    fn restore(&mut self, values: &[(Vec<u8>, Vec<u8>)]) {
        self.connections = [None, None];
        for (name, value) in values {
            let args = vec![
                b"CONFIG".to_vec(),
                b"SET".to_vec(),
                name.clone(),
                value.clone(),
            ];
            let _ = self.execute(0, &Action::Command(args));
        }
        self.connections = [None, None];
    }
}

/// `!scan`: calls a SCAN-family command until the cursor returns to 0 and answers with the
/// sorted union of everything returned. Cursors are an implementation detail; the set of keys
/// a full iteration visits is not.
fn scan_to_end(conn: &mut Connection, args: &[Vec<u8>]) -> io::Result<Reply> {
    let cursor_at = if args[0].eq_ignore_ascii_case(b"SCAN") {
        1
    } else {
        2
    };
    let mut args = args.to_vec();
    let mut seen = BTreeSet::new();
    for _ in 0..MAX_SCAN_CALLS {
        let reply = conn.call(&args)?;
        let Reply::Array(parts) = &reply else {
            return Ok(reply);
        };
        let [Reply::Bulk(cursor), Reply::Array(items)] = parts.as_slice() else {
            return Ok(reply);
        };
        for item in items {
            match item.as_text() {
                Some(key) => seen.insert(key.to_vec()),
                None => return Ok(reply),
            };
        }
        if cursor.as_slice() == b"0" {
            return Ok(Reply::Array(seen.into_iter().map(Reply::Bulk).collect()));
        }
        if cursor_at >= args.len() {
            return Ok(reply);
        }
        args[cursor_at] = cursor.clone();
    }
    Ok(Reply::Missing(format!(
        "SCAN did not return cursor 0 within {MAX_SCAN_CALLS} calls"
    )))
}

/// Prints an action the way it would be typed into redis-cli.
pub fn describe(action: &Action) -> String {
    let quote = |arg: &Vec<u8>| {
        let plain = !arg.is_empty()
            && arg
                .iter()
                .all(|b| b.is_ascii_graphic() && *b != b'"' && *b != b'\'' && *b != b'\\');
        if plain {
            String::from_utf8_lossy(arg).into_owned()
        } else {
            format!("\"{}\"", escape(arg))
        }
    };
    match action {
        Action::Command(args) => args.iter().map(quote).collect::<Vec<_>>().join(" "),
        Action::Scan(args) => format!(
            "!scan {}",
            args.iter().map(quote).collect::<Vec<_>>().join(" ")
        ),
        Action::Raw(bytes) => format!("!raw \"{}\"", escape(bytes)),
    }
}

/// A reply as a report line, cut to a readable length.
fn printable(reply: &Reply) -> String {
    let text = reply.to_string();
    if text.len() <= MAX_PRINTED_REPLY {
        return text;
    }
    let mut end = MAX_PRINTED_REPLY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} more characters)", &text[..end], text.len() - end)
}
