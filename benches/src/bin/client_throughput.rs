//! `client_throughput`: what the typed `rill` client gets through per second — publish in
//! batches, publish one by one from concurrent tasks, consume and acknowledge with a
//! [`WorkerPool`] — against the embedded engine, `rill-server` and `redis-server`, in one run.
//!
//! ```sh
//! cargo build --release -p rill-server -p rill-benches
//! cargo run --release -p rill-benches --bin client_throughput -- [--messages N] [--rounds R]
//!     [--rill-server PATH] [--redis-server PATH]
//! ```
//!
//! Both servers run as child processes on free loopback ports, so the client and the server
//! never share a runtime; they are killed when the run ends, fails, panics or is interrupted.
//! See `benches/README.md` for what each figure measures.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rill::testing::TestServer;
use rill::{Client, ConsumerOptions, Entry, GroupStart, Shutdown, Stream, WorkerPool};
use serde::{Deserialize, Serialize};

type Fallible<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// Messages per `add_batch` call (one pipelined round trip each).
const PUBLISH_BATCH: usize = 100;
/// Tasks publishing with single `add` calls at the same time, through one client.
const PUBLISHERS: usize = 16;
/// Consumers in the pool.
const WORKERS: usize = 4;
/// Entries per XREADGROUP of each consumer.
const CONSUME_BATCH: usize = 100;
/// Messages per workload in the unrecorded warm-up pass.
const WARM_UP_MESSAGES: usize = 20_000;
/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(15);

const USAGE: &str = "Usage: client_throughput [--messages N] [--rounds R] [--rill-server PATH] \
[--redis-server PATH]

  --messages N         messages per workload (default 500000)
  --rounds R           rounds; backends take turns in each round, the table shows medians (default 5)
  --rill-server PATH   rill-server binary (default <workspace>/target/release/rill-server;
                       if missing, an in-process rill::testing::TestServer is used)
  --redis-server PATH  redis-server binary (default redis-server on PATH; skipped if absent)";

/// The message every workload sends: three small fields, ~50 bytes of JSON in one field.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    seq: u64,
    sensor: String,
    celsius: f64,
}

/// The workloads, in the table's column order.
const WORKLOADS: [&str; 3] = [
    "batch publish (`add_batch`, 100/call)",
    "concurrent publish (16 tasks, `add`)",
    "consume + ack (pool of 4, batch 100)",
];

// ---------------------------------------------------------------------------------------------
// Command line

struct Options {
    messages: usize,
    rounds: usize,
    rill_server: PathBuf,
    redis_server: PathBuf,
    /// The arguments as given, to print back.
    given: Vec<String>,
}

impl Options {
    fn parse() -> Fallible<Options> {
        let given: Vec<String> = std::env::args().skip(1).collect();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut options = Options {
            messages: 500_000,
            rounds: 5,
            rill_server: workspace.join("target/release/rill-server"),
            redis_server: PathBuf::from("redis-server"),
            given: given.clone(),
        };
        let mut args = given.iter();
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{flag}: '{value}' is not a positive integer"))
            };
            match flag.as_str() {
                "--messages" => options.messages = number()?,
                "--rounds" => options.rounds = number()?,
                "--rill-server" => options.rill_server = PathBuf::from(value),
                "--redis-server" => options.redis_server = PathBuf::from(value),
                _ => return Err(format!("unknown option {flag}\n\n{USAGE}").into()),
            }
        }
        Ok(options)
    }

    /// The command line that reproduces this run.
    fn command_line(&self) -> String {
        let mut line = "cargo run --release -p rill-benches --bin client_throughput".to_string();
        if !self.given.is_empty() {
            line.push_str(" --");
            for arg in &self.given {
                line.push(' ');
                line.push_str(&shell_quote(arg));
            }
        }
        line
    }
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

// ---------------------------------------------------------------------------------------------
// Child servers

/// Every server process this run started. A registry rather than only owned handles, so that
/// the Ctrl-C/SIGTERM task and the panic hook can kill them too.
static CHILDREN: Mutex<Vec<Child>> = Mutex::new(Vec::new());

fn children() -> MutexGuard<'static, Vec<Child>> {
    CHILDREN.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn kill_all_children() {
    let all: Vec<Child> = children().drain(..).collect();
    all.into_iter().for_each(kill);
}

/// A server started as a child process on a free loopback port; killed on drop.
struct ServerProcess {
    pid: u32,
    port: u16,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `program args... --port P --bind 127.0.0.1` in `dir` and waits for its PING.
    /// `Err(None)` when the program does not exist.
    fn start(
        name: &str,
        program: &Path,
        extra: &[&str],
        dir: &Path,
    ) -> Result<ServerProcess, Option<String>> {
        let port = free_port().map_err(|e| Some(format!("no free port: {e}")))?;
        let log = dir.join(format!("{name}-{port}.log"));
        let log_file = std::fs::File::create(&log).map_err(|e| Some(e.to_string()))?;
        let log_err = log_file.try_clone().map_err(|e| Some(e.to_string()))?;
        let child = Command::new(program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(extra)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            // Own process group: a Ctrl-C reaches this program only, which then stops the
            // servers itself, after the run it interrupted.
            .process_group(0)
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => None,
                _ => Some(format!("cannot start {}: {e}", program.display())),
            })?;
        let server = ServerProcess {
            pid: child.id(),
            port,
            log,
        };
        children().push(child);
        server.wait_ready(name).map_err(Some)?;
        Ok(server)
    }

    fn wait_ready(&self, name: &str) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("{name} exited with {status}:\n{}", self.log_tail()));
            }
            if ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{name} did not answer PING on port {}", self.port));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exited(&self) -> Option<ExitStatus> {
        let mut list = children();
        let child = list.iter_mut().find(|c| c.id() == self.pid)?;
        child.try_wait().ok().flatten()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let mut list = children();
        if let Some(i) = list.iter().position(|c| c.id() == self.pid) {
            let child = list.swap_remove(i);
            drop(list);
            kill(child);
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One raw `PING`: whether the server answers `+PONG`.
fn ping(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut conn = TcpStream::connect(("127.0.0.1", port))?;
        conn.set_read_timeout(Some(Duration::from_secs(1)))?;
        conn.write_all(b"*1\r\n$4\r\nPING\r\n")?;
        let mut reply = [0u8; 7];
        conn.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    };
    attempt().unwrap_or(false)
}

/// The first line a program prints for `--version`.
fn version(program: &Path) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

// ---------------------------------------------------------------------------------------------
// Backends

/// Where the client's commands go.
enum Backend {
    Embedded,
    RillChild(ServerProcess),
    RillInProcess(TestServer),
    Redis(ServerProcess),
}

impl Backend {
    fn label(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::RillChild(_) | Backend::RillInProcess(_) => "rill-server",
            Backend::Redis(_) => "redis-server",
        }
    }

    /// The label with how the server runs, for the table.
    fn row(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded (`Client::embedded()`)",
            Backend::RillChild(_) => "rill-server (child process)",
            Backend::RillInProcess(_) => "rill-server (in-process `TestServer`)",
            Backend::Redis(_) => "redis-server (child process)",
        }
    }

    /// A client on an empty database: a fresh engine, or a FLUSHALL on the server.
    async fn fresh_client(&self) -> Fallible<Client> {
        let url = match self {
            Backend::Embedded => return Ok(Client::embedded()),
            Backend::RillChild(p) | Backend::Redis(p) => p.url(),
            Backend::RillInProcess(s) => s.url(),
        };
        let client = Client::connect(&url).await?;
        client.command(&["FLUSHALL"]).await?;
        Ok(client)
    }
}

// ---------------------------------------------------------------------------------------------
// Workloads

fn messages(n: usize) -> Arc<Vec<Reading>> {
    Arc::new(
        (0..n as u64)
            .map(|seq| Reading {
                seq,
                sensor: format!("sensor-{}", seq % 64),
                celsius: 15.0 + (seq % 200) as f64 / 10.0,
            })
            .collect(),
    )
}

async fn expect_len(stream: &Stream<Reading>, n: usize) -> Fallible<()> {
    let len = stream.len().await?;
    if len != n as u64 {
        return Err(format!("{}: XLEN is {len}, expected {n}", stream.key()).into());
    }
    Ok(())
}

/// One task, `add_batch` of `PUBLISH_BATCH` messages at a time. Returns msgs/s.
async fn batch_publish(client: &Client, key: &str, msgs: &[Reading]) -> Fallible<f64> {
    let stream = client.stream::<Reading>(key);
    let started = Instant::now();
    let mut added = 0;
    for chunk in msgs.chunks(PUBLISH_BATCH) {
        added += stream.add_batch(chunk).await?.len();
    }
    let elapsed = started.elapsed();
    if added != msgs.len() {
        return Err(format!("add_batch returned {added} IDs for {} messages", msgs.len()).into());
    }
    expect_len(&stream, msgs.len()).await?;
    Ok(msgs.len() as f64 / elapsed.as_secs_f64())
}

/// `PUBLISHERS` tasks sharing one client, each `add`-ing its share one message at a time.
/// Returns msgs/s.
async fn concurrent_publish(client: &Client, key: &str, msgs: &Arc<Vec<Reading>>) -> Fallible<f64> {
    let stream = client.stream::<Reading>(key);
    let n = msgs.len();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..PUBLISHERS {
        let (stream, msgs) = (stream.clone(), Arc::clone(msgs));
        let range = (n * p / PUBLISHERS)..(n * (p + 1) / PUBLISHERS);
        tasks.spawn(async move {
            for m in &msgs[range] {
                stream.add(m).await?;
            }
            Ok::<(), rill::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let elapsed = started.elapsed();
    expect_len(&stream, n).await?;
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// What the consumers' handler saw: each `seq` at most once, all of them in the end.
struct Tally {
    seen: Vec<AtomicBool>,
    handled: AtomicUsize,
    duplicates: AtomicUsize,
    unknown: AtomicUsize,
}

impl Tally {
    fn new(n: usize) -> Tally {
        Tally {
            seen: (0..n).map(|_| AtomicBool::new(false)).collect(),
            handled: AtomicUsize::new(0),
            duplicates: AtomicUsize::new(0),
            unknown: AtomicUsize::new(0),
        }
    }

    /// Books one handled message; returns how many were handled so far.
    fn record(&self, seq: u64) -> usize {
        match self.seen.get(seq as usize) {
            Some(flag) if flag.swap(true, Ordering::Relaxed) => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Some(_) => {}
            None => {
                self.unknown.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.handled.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A pool of `WORKERS` consumers drains the stream `key` (already holding `n` messages, group
/// created at its beginning). Timed from the pool's start until `run` returns: every message
/// handled, the pool stopped, and every ack flushed. Returns msgs/s.
async fn consume(client: &Client, key: &str, n: usize) -> Fallible<f64> {
    const GROUP: &str = "bench";
    let stream = client.stream::<Reading>(key);
    stream.ensure_group(GROUP, GroupStart::Beginning).await?;
    let tally = Arc::new(Tally::new(n));
    let shutdown = Shutdown::new();
    let options = ConsumerOptions::default().batch_size(CONSUME_BATCH);

    let started = Instant::now();
    let pool = WorkerPool::new(&stream, GROUP, options).workers(WORKERS);
    let (stop, counted) = (shutdown.clone(), Arc::clone(&tally));
    let run = pool.run(
        move |entry: Entry<Reading>| {
            let (stop, tally) = (stop.clone(), Arc::clone(&counted));
            async move {
                if tally.record(entry.value.seq) == n {
                    stop.trigger();
                }
                Ok::<(), String>(())
            }
        },
        shutdown.clone(),
    );
    // Generous: even 1,000 msgs/s finishes well within it. Only a lost message gets here.
    let limit = Duration::from_secs(60) + Duration::from_millis(n as u64);
    let summary = match tokio::time::timeout(limit, run).await {
        Ok(summary) => summary?,
        Err(_) => {
            return Err(format!(
                "consume: only {} of {n} messages handled after {limit:?}",
                tally.handled.load(Ordering::Relaxed)
            )
            .into())
        }
    };
    let elapsed = started.elapsed();

    let m = &summary.metrics;
    let pending = stream.pending(GROUP).await?.count;
    let missing = tally
        .seen
        .iter()
        .filter(|s| !s.load(Ordering::Relaxed))
        .count();
    let (duplicates, unknown) = (
        tally.duplicates.load(Ordering::Relaxed),
        tally.unknown.load(Ordering::Relaxed),
    );
    if m.processed != n as u64
        || m.failed != 0
        || pending != 0
        || summary.left_pending != 0
        || missing + duplicates + unknown != 0
    {
        return Err(format!(
            "consume: processed {} of {n}, failed {}, pending {pending} (left {}), missing \
             {missing}, duplicates {duplicates}, unknown {unknown}",
            m.processed, m.failed, summary.left_pending
        )
        .into());
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// The three workloads on a fresh database; msgs/s in `WORKLOADS` order.
async fn measure(backend: &Backend, msgs: &Arc<Vec<Reading>>) -> Fallible<[f64; 3]> {
    let client = backend.fresh_client().await?;
    let batch = batch_publish(&client, "bench:batch", msgs).await?;
    let single = concurrent_publish(&client, "bench:single", msgs).await?;
    // Consumes what the batch publish wrote.
    let consumed = consume(&client, "bench:batch", msgs.len()).await?;
    if !client.is_embedded() {
        client.command(&["FLUSHALL"]).await?;
    }
    Ok([batch, single, consumed])
}

// ---------------------------------------------------------------------------------------------
// Report

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{}, {cores} cores available, Linux {}",
        cpu_model(),
        kernel.trim()
    )
}

fn workspace_commit() -> String {
    Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

// ---------------------------------------------------------------------------------------------
// Main

async fn run(options: &Options, dir: &Path) -> Fallible<()> {
    let started = Instant::now();
    let mut backends = vec![Backend::Embedded];
    let mut notes = Vec::new();

    let rill_version = version(&options.rill_server);
    if options.rill_server.is_file() {
        let p = ServerProcess::start("rill-server", &options.rill_server, &[], dir)
            .map_err(|e| e.unwrap_or_else(|| "rill-server vanished".to_string()))?;
        notes.push(format!(
            "rill-server: child process `{}` ({})",
            options.rill_server.display(),
            rill_version.as_deref().unwrap_or("version unknown")
        ));
        backends.push(Backend::RillChild(p));
    } else {
        eprintln!(
            "note: {} not found (build it with `cargo build --release -p rill-server`); \
             using an in-process rill::testing::TestServer instead",
            options.rill_server.display()
        );
        notes.push(
            "rill-server: in-process `rill::testing::TestServer` (its own runtime and threads, \
             same process), because the release binary was missing"
                .to_string(),
        );
        backends.push(Backend::RillInProcess(TestServer::start()?));
    }

    let redis_args = ["--save", "", "--appendonly", "no"];
    match ServerProcess::start("redis-server", &options.redis_server, &redis_args, dir) {
        Ok(p) => {
            notes.push(format!(
                "redis-server: child process `{} --save '' --appendonly no` ({})",
                options.redis_server.display(),
                version(&options.redis_server)
                    .as_deref()
                    .unwrap_or("version unknown")
            ));
            backends.push(Backend::Redis(p));
        }
        Err(None) => {
            let banner = "!".repeat(78);
            eprintln!(
                "{banner}\n!!! redis-server NOT FOUND ({}): its row is SKIPPED.\n\
                 !!! Install it (apt-get install redis-server) or pass --redis-server PATH.\n{banner}",
                options.redis_server.display()
            );
            notes.push("redis-server: SKIPPED (not installed)".to_string());
        }
        Err(Some(e)) => return Err(e.into()),
    }

    // One short unrecorded pass per backend first: connections, allocator arenas and the
    // servers' first page faults are not what the table is about.
    let warm_up = messages(options.messages.min(WARM_UP_MESSAGES));
    for backend in &backends {
        measure(backend, &warm_up).await?;
    }
    eprintln!("warm-up done ({} messages per backend)", warm_up.len());

    let msgs = messages(options.messages);
    let mut results: Vec<Vec<[f64; 3]>> = backends.iter().map(|_| Vec::new()).collect();
    for round in 0..options.rounds {
        // Backends take turns, and the first one changes every round.
        let mut order: Vec<usize> = (0..backends.len()).collect();
        order.rotate_left(round % backends.len());
        for i in order {
            let rates = measure(&backends[i], &msgs).await?;
            eprintln!(
                "round {}/{} {:<12} batch {:>10}/s  concurrent {:>10}/s  consume+ack {:>10}/s",
                round + 1,
                options.rounds,
                backends[i].label(),
                thousands(rates[0]),
                thousands(rates[1]),
                thousands(rates[2]),
            );
            results[i].push(rates);
        }
    }
    let took = started.elapsed();

    let medians: Vec<[f64; 3]> = results
        .iter()
        .map(|rounds| {
            let column = |w: usize| median(&rounds.iter().map(|r| r[w]).collect::<Vec<_>>());
            [column(0), column(1), column(2)]
        })
        .collect();

    println!();
    println!("command: `{}`", options.command_line());
    println!("machine: {}", machine());
    println!("rill workspace: {}", workspace_commit());
    for note in &notes {
        println!("{note}");
    }
    println!(
        "{} messages of ~50 B JSON per workload, {} rounds, median msgs/s (whole run: {:.0} s)",
        thousands(options.messages as f64),
        options.rounds,
        took.as_secs_f64()
    );
    println!();
    println!("| backend | {} |", WORKLOADS.join(" | "));
    println!("|---|---:|---:|---:|");
    for (backend, m) in backends.iter().zip(&medians) {
        let cells: Vec<String> = m.iter().map(|x| thousands(*x)).collect();
        println!("| {} | {} |", backend.row(), cells.join(" | "));
    }
    if !backends.iter().any(|b| matches!(b, Backend::Redis(_))) {
        println!("| redis-server | skipped | skipped | skipped |");
    }
    let find = |label: &str| {
        backends
            .iter()
            .position(|b| b.label() == label)
            .map(|i| medians[i])
    };
    if let (Some(rill), Some(redis)) = (find("rill-server"), find("redis-server")) {
        let cells: Vec<String> = (0..3)
            .map(|w| format!("{:.2}×", rill[w] / redis[w]))
            .collect();
        println!("| **rill-server / redis-server** | {} |", cells.join(" | "));
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // A panic anywhere (also in a spawned task) leaves no server behind.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        kill_all_children();
    }));

    let dir = std::env::temp_dir().join(format!("rill-client-throughput-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let signal_dir = dir.clone();
        tokio::spawn(async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("interrupted: stopping the servers");
            kill_all_children();
            let _ = std::fs::remove_dir_all(&signal_dir);
            std::process::exit(130);
        });
        run(&options, &dir).await
    });
    // The servers were dropped (killed) with `run`'s backends; this catches any left over.
    kill_all_children();
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
