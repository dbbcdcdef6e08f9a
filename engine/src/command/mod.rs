//! The command table and the path every command takes: look up, check arity, auth and MULTI,
//! run, count. Each family of commands lives in its own module and registers its [`Spec`]s.

pub mod blocking_pops;
pub mod client;
pub mod connection;
pub mod dump;
pub mod expire;
pub mod hash_ttl;
pub mod hashes;
pub mod idmp;
pub mod ids_args;
pub mod info;
pub mod introspection;
pub mod keys;
pub mod lists;
pub mod object;
pub mod persistence;
pub mod prepared;
pub mod pubsub;
mod random;
pub mod read_args;
pub mod replication;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod strings;
pub mod transactions;
pub mod trim_args;
mod typed;
pub mod xack;
pub mod xackdel;
pub mod xadd;
pub mod xautoclaim;
pub mod xclaim;
pub mod xdel;
pub mod xdelex;
pub mod xgroup;
pub mod xinfo;
pub mod xnack;
pub mod xpending;
pub mod xrange;
pub mod xread;
pub mod xreadgroup;
pub mod xsetid;
pub mod xtrim;
pub mod zrange;
pub mod zsetops;
pub mod zsets;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;

use self::prepared::{Prepared, Request};
use crate::error;
use crate::keyspace::{Db, Value};
use crate::reply::Reply;
use crate::session::SessionState;
use crate::stream::Stream;
use crate::{Shared, State};

/// A command handler: the whole argument vector in (name first), the reply out.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> Reply;

/// Which family a command belongs to (its ACL category and `COMMAND DOCS` group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// XADD, XREAD and the other X commands (ACL `@stream`).
    Stream,
    /// Key commands: DEL, EXPIRE, SCAN, RENAME... (ACL `@keyspace`).
    Generic,
    /// GET, SET, INCR and the other string commands (ACL `@string`).
    String,
    /// HSET, HGET and the other hash commands (ACL `@hash`).
    Hash,
    /// LPUSH, LPOP and the other list commands (ACL `@list`).
    List,
    /// SADD, SMEMBERS and the other set commands (ACL `@set`).
    Set,
    /// ZADD, ZRANGE and the other sorted-set commands (ACL `@sortedset`).
    SortedSet,
    /// SUBSCRIBE, PUBLISH, PUBSUB... (ACL `@pubsub`).
    PubSub,
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH (ACL `@transaction`).
    Transactions,
    /// PING, HELLO, AUTH, SELECT, CLIENT... (ACL `@connection`).
    Connection,
    /// INFO, CONFIG, COMMAND, FLUSHALL...: Redis gives them no family ACL category.
    Server,
    /// EVAL, FUNCTION...: listed as Redis lists them so clients see the same table; Rill runs no
    /// scripts, so whatever would run or load one answers an error.
    Scripting,
}

/// Key positions of a table entry: first, last (negative from the end), step.
pub type KeyPositions = (i32, i32, i32);

/// See [`Spec::family`].
pub type Family = Box<
    dyn Fn(
        &'static str,
        i32,
        &'static [&'static str],
        KeyPositions,
        &'static str,
        &'static str,
        Handler,
    ) -> Spec,
>;

impl Group {
    /// Name as `COMMAND DOCS` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Group::Stream => "stream",
            Group::Generic => "generic",
            Group::String => "string",
            Group::Hash => "hash",
            Group::List => "list",
            Group::Set => "set",
            Group::SortedSet => "sorted-set",
            Group::PubSub => "pubsub",
            Group::Transactions => "transactions",
            Group::Connection => "connection",
            Group::Server => "server",
            Group::Scripting => "scripting",
        }
    }

    fn acl(self) -> Option<&'static str> {
        match self {
            Group::Stream => Some("@stream"),
            Group::Generic => Some("@keyspace"),
            Group::String => Some("@string"),
            Group::Hash => Some("@hash"),
            Group::List => Some("@list"),
            Group::Set => Some("@set"),
            Group::SortedSet => Some("@sortedset"),
            Group::PubSub => Some("@pubsub"),
            Group::Transactions => Some("@transaction"),
            Group::Connection => Some("@connection"),
            Group::Server => None,
            Group::Scripting => Some("@scripting"),
        }
    }
}

/// The command flags every command's path checks (see [`Spec::is`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Flag {
    /// May change data: CLIENT PAUSE WRITE holds it, MISCONF refuses it.
    Write = 1,
    /// May take memory: refused with OOM when `maxmemory` cannot be met.
    Denyoom = 2,
    /// Refused inside MULTI.
    NoMulti = 4,
    /// Allowed while the dataset loads.
    Loading = 8,
    /// Never enters the slow log.
    SkipSlowlog = 16,
}

impl Flag {
    const ALL: [Flag; 5] = [
        Flag::Write,
        Flag::Denyoom,
        Flag::NoMulti,
        Flag::Loading,
        Flag::SkipSlowlog,
    ];

    /// The flag's name in Redis's command table.
    pub fn name(self) -> &'static str {
        match self {
            Flag::Write => "write",
            Flag::Denyoom => "denyoom",
            Flag::NoMulti => "no_multi",
            Flag::Loading => "loading",
            Flag::SkipSlowlog => "skip_slowlog",
        }
    }
}

/// What the table knows of one command or subcommand.
#[derive(Clone)]
pub struct Spec {
    /// Lowercase; subcommands are `parent|sub`.
    pub name: &'static str,
    /// Redis's arity: N means exactly N words, -N at least N (the name counts).
    pub arity: i32,
    /// The family: `COMMAND DOCS` group and ACL category.
    pub group: Group,
    /// Redis's command flags (`write`, `readonly`, `fast`, `denyoom`, `admin`, `noscript`...).
    pub flags: &'static [&'static str],
    /// The flags every command's path checks, as bits (see [`Flag`]): a test per command
    /// instead of comparing names.
    checked: u8,
    /// First key, last key, step (0, 0, 0 when the command takes no key).
    pub keys: (i32, i32, i32),
    /// One line for `COMMAND DOCS`.
    pub summary: &'static str,
    /// The Redis version that added the command, for `COMMAND DOCS`; `1.0.0` unless set with
    /// `Spec::since`.
    pub since: &'static str,
    /// The handler. It runs only after the arity, auth and MULTI checks passed, so it need not
    /// repeat them.
    pub run: Handler,
    /// For a container command (CONFIG, XINFO...), its `parent|sub` entries, which hold the real
    /// arities; empty for other commands.
    pub subcommands: Vec<Spec>,
    /// Where INFO's counters of this command live in `Stats::commands`: numbered when the
    /// table is built, each entry and subcommand its own.
    pub stat_slot: usize,
}

impl Spec {
    /// A command with no subcommands.
    pub fn new(
        name: &'static str,
        arity: i32,
        group: Group,
        flags: &'static [&'static str],
        keys: (i32, i32, i32),
        summary: &'static str,
        run: Handler,
    ) -> Spec {
        let checked = Flag::ALL
            .iter()
            .filter(|f| flags.contains(&f.name()))
            .fold(0, |bits, f| bits | *f as u8);
        Spec {
            name,
            arity,
            group,
            flags,
            checked,
            keys,
            summary,
            since: "1.0.0",
            run,
            subcommands: Vec::new(),
            stat_slot: 0,
        }
    }

    /// A builder of `group`'s table entries, for files that list their commands one a line:
    /// `(name, arity, flags, key positions, since, summary, handler)`.
    pub fn family(group: Group) -> Family {
        Box::new(move |name, arity, flags, keys, since, summary, run| {
            Spec::new(name, arity, group, flags, keys, summary, run).since(since)
        })
    }

    /// The Redis version that introduced the command, for `COMMAND DOCS`.
    pub fn since(mut self, version: &'static str) -> Spec {
        self.since = version;
        self
    }

    /// Makes this a container command (CLIENT, CONFIG, XINFO...).
    pub fn with_subcommands(mut self, subs: Vec<Spec>) -> Spec {
        self.subcommands = subs;
        self
    }

    /// Whether Redis lists `flag` for the command; the ACL categories and COMMAND GETKEYS are
    /// derived from the flags.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    /// Whether the command carries `flag`: [`Spec::has_flag`] for the flags checked on every
    /// command's way, at the cost of a bit test.
    pub fn is(&self, flag: Flag) -> bool {
        self.checked & flag as u8 != 0
    }

    /// ACL categories as `COMMAND INFO` lists them: read/write, the family's category,
    /// `@admin @dangerous` for admin commands, then fast or slow.
    pub fn acl_categories(&self) -> Vec<&'static str> {
        let mut cats = Vec::new();
        if self.has_flag("write") {
            cats.push("@write");
        }
        if self.has_flag("readonly") && self.group != Group::Scripting {
            cats.push("@read");
        }
        if let Some(family) = self.group.acl() {
            cats.push(family);
        }
        if self.has_flag("admin") {
            cats.push("@admin");
            cats.push("@dangerous");
        }
        cats.push(if self.has_flag("fast") {
            "@fast"
        } else {
            "@slow"
        });
        if self.has_flag("blocking") {
            cats.push("@blocking");
        }
        cats
    }

    /// Name shown in stats and errors (`client|setname`).
    pub fn display_name(&self) -> &'static str {
        self.name
    }
}

/// The command table by lower-case name. Its keys are fixed, so no client can pick names
/// that collide: a plain FNV-1a hash serves it, about a tenth of SipHash's cost on every
/// command looked up.
pub type CommandTable = HashMap<&'static str, Spec, BuildHasherDefault<NameHasher>>;

/// FNV-1a, for [`CommandTable`]'s short, fixed keys.
pub struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> NameHasher {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = self.0;
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The whole table, by lowercase name.
pub fn table() -> &'static CommandTable {
    static TABLE: OnceLock<CommandTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all = Vec::new();
        all.extend(xadd::specs());
        all.extend(xrange::specs());
        all.extend(xread::specs());
        all.extend(xreadgroup::specs());
        all.extend(xgroup::specs());
        all.extend(xack::specs());
        all.extend(xpending::specs());
        all.extend(xclaim::specs());
        all.extend(xautoclaim::specs());
        all.extend(xdel::specs());
        all.extend(xdelex::specs());
        all.extend(xackdel::specs());
        all.extend(idmp::specs());
        all.extend(xnack::specs());
        all.extend(hashes::specs());
        all.extend(hash_ttl::specs());
        all.extend(lists::specs());
        all.extend(blocking_pops::specs());
        all.extend(sets::specs());
        all.extend(pubsub::specs());
        all.extend(zsets::specs());
        all.extend(blocking_pops::zset_specs());
        all.extend(zrange::specs());
        all.extend(zsetops::specs());
        all.extend(object::specs());
        all.extend(xtrim::specs());
        all.extend(xsetid::specs());
        all.extend(xinfo::specs());
        all.extend(keys::specs());
        all.extend(dump::specs());
        all.extend(expire::specs());
        all.extend(strings::specs());
        all.extend(transactions::specs());
        all.extend(connection::specs());
        all.extend(server::specs());
        all.extend(persistence::specs());
        all.extend(replication::specs());
        all.extend(introspection::specs());
        all.extend(slowlog::specs());
        let mut slot = 0;
        for spec in &mut all {
            spec.stat_slot = slot;
            slot += 1;
            for sub in &mut spec.subcommands {
                sub.stat_slot = slot;
                slot += 1;
            }
        }
        all.into_iter().map(|s| (s.name, s)).collect()
    })
}

/// What a handler works on: the locked engine state and the calling session.
pub struct Ctx<'a> {
    /// The whole engine state, locked for the command's whole run (which is what makes it atomic).
    pub state: &'a mut State,
    /// The calling client's state; when a blocked read is served, a stand-in built from its waiter.
    pub session: &'a mut SessionState,
    pub(crate) shared: &'a Arc<Shared>,
    /// Wall-clock time of this command, fixed for its whole run.
    pub now_ms: u64,
    /// When the running command started, for its `usec` in INFO commandstats.
    pub started: Instant,
}

impl Ctx<'_> {
    /// The session's selected database.
    pub fn db(&mut self) -> &mut Db {
        let db = self.session.db;
        &mut self.state.keyspace.dbs[db]
    }

    /// Records a write to `key`: WATCH versions and the dirty counter.
    pub fn touch(&mut self, key: &[u8]) {
        let db = self.session.db;
        self.state.keyspace.touch(db, key);
        self.state.stats.dirty += 1;
    }

    /// Wakes clients blocked on `key` without counting a write that WATCH would see (XGROUP
    /// DESTROY must release blocked group readers; Redis does not abort transactions for it).
    pub fn signal_blocked(&mut self, key: &[u8]) {
        let db = self.session.db;
        self.state.keyspace.blocking.signal(db, key);
    }

    /// The stream at `key`: `Ok(None)` when absent, WRONGTYPE when another type.
    pub fn stream(&mut self, key: &[u8]) -> Result<Option<&Stream>, Reply> {
        let now = self.now_ms;
        match self.db().get(key, now) {
            None => Ok(None),
            Some(Value::Stream(s)) => Ok(Some(s)),
            Some(_) => Err(Reply::error(error::WRONGTYPE)),
        }
    }

    /// The stream at `key` for change.
    pub fn stream_mut(&mut self, key: &[u8]) -> Result<Option<&mut Stream>, Reply> {
        let now = self.now_ms;
        match self.db().get_mut(key, now) {
            None => Ok(None),
            Some(Value::Stream(s)) => Ok(Some(s)),
            Some(_) => Err(Reply::error(error::WRONGTYPE)),
        }
    }
}

/// Commands that run at once even inside MULTI.
fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Commands a client may run before authenticating.
fn allowed_without_auth(name: &str) -> bool {
    matches!(name, "auth" | "hello" | "quit" | "reset")
}

/// Finds the spec for `args`, descending into subcommands.
pub fn lookup(args: &[Bytes]) -> Result<&'static Spec, String> {
    let Some(spec) = find(table(), &args[0]) else {
        return Err(error::unknown_command(&args[0], &args[1..]));
    };
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Ok(spec);
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match spec
        .subcommands
        .iter()
        .find(|s| s.name.split('|').nth(1) == Some(sub.as_str()))
    {
        Some(s) => Ok(s),
        None => Err(error::unknown_subcommand(spec.name, &args[1])),
    }
}

/// A session's last plain command (see [`lookup_hinted`]).
#[derive(Clone, Copy, Default)]
pub struct CommandHint(Option<&'static Spec>);

impl std::fmt::Debug for CommandHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.map_or("none", |spec| spec.name))
    }
}

/// [`lookup`], trying `hint` (the session's last plain command) first: the same name again
/// costs one comparison, not a hash, so a pipeline of one command (a batch of XADDs) skips
/// the table. Only commands without subcommands become hints, so a name the table does not
/// hold (`xgroup|create`) can never match one.
fn lookup_hinted(args: &[Bytes], hint: &mut CommandHint) -> Result<&'static Spec, String> {
    if let Some(spec) = hint.0 {
        if spec.name.as_bytes().eq_ignore_ascii_case(&args[0]) {
            return Ok(spec);
        }
    }
    let spec = lookup(args)?;
    if spec.subcommands.is_empty() && !spec.name.contains('|') {
        hint.0 = Some(spec);
    }
    Ok(spec)
}

/// Looks a command name up case-insensitively without allocating for ordinary names.
fn find<'t>(table: &'t CommandTable, name: &[u8]) -> Option<&'t Spec> {
    let mut buf = [0u8; 32];
    if name.len() <= buf.len() {
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        std::str::from_utf8(lower).ok().and_then(|n| table.get(n))
    } else {
        None
    }
}

fn arity_ok(spec: &Spec, argc: usize) -> bool {
    let argc = argc as i32;
    (spec.arity > 0 && argc == spec.arity) || (spec.arity < 0 && argc >= -spec.arity)
}

/// Runs a command for the session in `ctx`: the full path with every check.
pub fn dispatch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let spec = match lookup_hinted(args, &mut ctx.session.command_hint) {
        Ok(spec) => spec,
        Err(text) => {
            ctx.session.last_command = "NULL";
            return reject(ctx, None, text);
        }
    };
    dispatch_to(ctx, spec, Request::Text(args))
}

/// [`dispatch`] for a command given as values (see [`prepared`]).
pub fn dispatch_prepared(ctx: &mut Ctx, command: Prepared) -> Reply {
    match command.spec() {
        Some(spec) => dispatch_to(ctx, spec, Request::Prepared(command)),
        None => {
            ctx.session.last_command = "NULL";
            let text = error::unknown_command(command.name().as_bytes(), &[]);
            reject(ctx, None, text)
        }
    }
}

/// Everything after the look-up: arity, the refusals, MULTI queuing, the run.
fn dispatch_to(ctx: &mut Ctx, spec: &'static Spec, request: Request) -> Reply {
    ctx.session.last_command = spec.name;
    if !arity_ok(spec, request.argc()) {
        return reject(ctx, Some(spec), error::arity(spec.name));
    }
    let base = || spec.name.split('|').next().unwrap_or(spec.name);
    if !ctx.session.authenticated && !allowed_without_auth(base()) {
        return reject(ctx, Some(spec), error::NOAUTH.to_string());
    }
    if ctx.session.multi.is_some() && spec.is(Flag::NoMulti) {
        return reject(ctx, Some(spec), error::NOT_IN_MULTI.to_string());
    }
    if ctx.state.config.maxmemory > 0 {
        let counter = ctx.state.memory_counter;
        let under = crate::eviction::make_room(ctx.state, counter, ctx.now_ms);
        if !under && may_grow_memory(ctx.session, spec) {
            return reject(ctx, Some(spec), crate::eviction::OOM.to_string());
        }
    }
    if let Some(text) = persistence_refusal(ctx, spec) {
        return reject(ctx, Some(spec), text);
    }
    if let Some(text) = pubsub::subscriber_mode_refusal(ctx, spec.name) {
        return reject(ctx, Some(spec), text);
    }
    if let Some(multi) = ctx.session.multi.as_mut() {
        if !runs_inside_multi(base()) {
            multi.queue.push(request.args().into_owned());
            return Reply::simple("QUEUED");
        }
    }
    let reply = call_request(ctx, spec, request);
    if ctx.state.config.maxmemory > 0 && spec.is(Flag::Write) {
        crate::eviction::note_write(ctx.state, request.text_len(), spec.is(Flag::Denyoom));
    }
    reply
}

/// Redis's refusals while persistence cannot take the command: writes (and PING) after a
/// failed AOF write (`MISCONF`), and anything not flagged `loading` while the log loads.
fn persistence_refusal(ctx: &Ctx, spec: &Spec) -> Option<String> {
    if ctx.session.loader {
        return None;
    }
    if let Some(why) = ctx
        .state
        .persistence
        .log
        .as_ref()
        .filter(|l| l.writer().is_failing())
        .and_then(|l| l.writer().last_error())
    {
        if spec.is(Flag::Write) || spec.name == "ping" {
            return Some(format!("MISCONF Errors writing to the AOF file: {why}"));
        }
    }
    // A failed background save stops writes while save points are set
    // (stop-writes-on-bgsave-error); checked in that order, the cheapest first (no lock:
    // the save's status shares its failure flag).
    if (spec.is(Flag::Write) || spec.name == "ping")
        && ctx
            .state
            .persistence
            .save_failed
            .load(std::sync::atomic::Ordering::Relaxed)
        && ctx.state.config.get("stop-writes-on-bgsave-error") != Some("no")
        && crate::rdb::save::has_save_points(&ctx.state.config)
    {
        return Some("MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.".to_string());
    }
    let loading = ctx
        .shared
        .loading
        .load(std::sync::atomic::Ordering::Relaxed);
    (loading && !spec.is(Flag::Loading))
        .then(|| "LOADING Redis is loading the dataset in memory".to_string())
}

/// Whether `maxmemory` refuses the command when memory cannot be freed: a `denyoom` command,
/// an EXEC whose queue holds one, or anything but EXEC, DISCARD, QUIT and RESET inside MULTI,
/// since queuing itself takes memory (Redis's rules).
fn may_grow_memory(session: &SessionState, spec: &Spec) -> bool {
    if spec.is(Flag::Denyoom) {
        return true;
    }
    if session.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset") {
        return true;
    }
    spec.name == "exec" && queue_holds(session, |s| s.has_flag("denyoom"))
}

/// Whether a command queued in the session's MULTI is one `which` picks: what EXEC will run
/// decides how pauses and `maxmemory` treat the EXEC.
fn queue_holds(session: &SessionState, which: impl Fn(&Spec) -> bool) -> bool {
    session.multi.as_ref().is_some_and(|m| {
        m.queue
            .iter()
            .any(|queued| lookup(queued).is_ok_and(&which))
    })
}

/// Answers an error for a command that was refused before it ran, and poisons an open MULTI.
fn reject(ctx: &mut Ctx, spec: Option<&Spec>, text: String) -> Reply {
    if let Some(multi) = ctx.session.multi.as_mut() {
        multi.failed = true;
    }
    // A refused EXEC ends any transaction there and then, and says so even outside MULTI.
    if spec.is_some_and(|s| s.name == "exec") {
        ctx.session.multi = None;
        transactions::unwatch_all(ctx);
        let reason = text.strip_prefix("ERR ").unwrap_or(&text);
        let text = format!("EXECABORT Transaction discarded because of: {reason}");
        ctx.state.stats.count_error(&text);
        return Reply::Error(text);
    }
    if let Some(spec) = spec {
        ctx.state.stats.command_mut(spec.stat_slot).rejected_calls += 1;
    }
    ctx.state.stats.count_error(&text);
    Reply::Error(text)
}

/// Runs a command that passed every check (also how EXEC runs its queue), and counts it.
pub fn call(ctx: &mut Ctx, spec: &Spec, args: &[Bytes]) -> Reply {
    call_request(ctx, spec, Request::Text(args))
}

/// [`call`] for text or values.
fn call_request(ctx: &mut Ctx, spec: &Spec, request: Request) -> Reply {
    let journaled = ctx.state.propagation.enabled();
    let (dirty_before, effects_before) =
        (ctx.state.stats.dirty, ctx.state.propagation.pending_len());
    let reply = request.run(ctx, spec);
    if journaled {
        propagate_call(ctx, spec, request, dirty_before, effects_before);
    }
    // One clock read per command: it ends this one and starts the next (inside EXEC).
    let ended = Instant::now();
    let took = ended.saturating_duration_since(ctx.started);
    let usec = took.as_secs() * 1_000_000 + u64::from(took.subsec_micros());
    ctx.started = ended;
    let stats = &mut ctx.state.stats;
    stats.total_commands_processed += 1;
    let entry = stats.command_mut(spec.stat_slot);
    entry.calls += 1;
    entry.usec += usec;
    if let Reply::Error(text) = &reply {
        entry.failed_calls += 1;
        stats.count_error(text);
    }
    if !spec.is(Flag::SkipSlowlog) {
        slowlog::SlowLog::record(ctx, request, usec);
    }
    reply
}

/// Whether a command may change data or be propagated, so CLIENT PAUSE WRITE holds it: a
/// `write` command, one Redis flags `may_replicate` (of Rill's: PUBLISH and SPUBLISH, which
/// Redis propagates to replicas; the flag is internal, COMMAND INFO does not show it), or an
/// EXEC whose queue holds either.
pub fn may_write(session: &SessionState, request: Request) -> bool {
    let spec = match request {
        Request::Text(args) => lookup(args).ok(),
        Request::Prepared(command) => command.spec(),
    };
    let Some(spec) = spec else {
        return false;
    };
    let held = |spec: &Spec| spec.is(Flag::Write) || matches!(spec.name, "publish" | "spublish");
    held(spec) || (spec.name == "exec" && queue_holds(session, held))
}

/// After a command ran with a journal attached: if it changed data and logged nothing itself,
/// it is logged as written, or as the state it left when its arguments hold relative times;
/// keys that expired while it looked them up are logged as DELs before it.
fn propagate_call(
    ctx: &mut Ctx,
    spec: &Spec,
    request: Request,
    dirty_before: u64,
    effects_before: usize,
) {
    let changed = ctx.state.stats.dirty > dirty_before;
    // EXEC's commands logged themselves through their own calls.
    if changed && spec.name != "exec" && ctx.state.propagation.pending_len() == effects_before {
        let db = ctx.session.db;
        let name = spec.name;
        let args = request.args();
        match crate::propagate::rewrite(ctx.state, db, name, &args, ctx.now_ms) {
            Some(effects) => {
                for effect in effects {
                    ctx.state.propagation.push(db, effect);
                }
            }
            None => {
                let parts = args.iter().map(|a| a.as_ref());
                ctx.state.propagation.push_parts(db, args.len(), parts)
            }
        }
    }
    crate::propagate::take_expired(ctx.state, effects_before);
}

impl Ctx<'_> {
    /// Publishes a keyspace notification of `class` (see [`crate::notify`]) for `key` in the
    /// client's database, after the events the databases queued (a key this command created
    /// comes first, as in Redis). Costs one comparison when notifications are off.
    pub fn notify(&mut self, class: u16, event: &'static str, key: &[u8]) {
        let db = self.session.db;
        self.notify_in(db, class, event, key);
    }

    /// [`Ctx::notify`] for a key of database `db` (MOVE, COPY ... DB).
    pub fn notify_in(&mut self, db: usize, class: u16, event: &'static str, key: &[u8]) {
        if self.state.config.keyspace_events & class == 0 {
            return;
        }
        crate::notify::publish_queued(self.state);
        crate::notify::publish(self.state, db, class, event, key);
    }

    /// Logs `args` as (part of) what the running command did, in the session's database:
    /// for commands whose own arguments would not replay the same way (XADD with `*`).
    pub fn propagate(&mut self, args: Vec<Bytes>) {
        let db = self.session.db;
        self.state.propagation.push(db, args);
    }

    /// [`Ctx::propagate`] for a command given as its `count` arguments, copied into the
    /// log's form as they are (no argument vector to build).
    pub fn propagate_parts<'a>(&mut self, count: usize, args: impl Iterator<Item = &'a [u8]>) {
        let db = self.session.db;
        self.state.propagation.push_parts(db, count, args);
    }
}

/// Records the command in the client registry (CLIENT LIST's `cmd`, `idle`, `db`).
pub fn note_client_activity(ctx: &mut Ctx) {
    let name = ctx.session.last_command;
    let (id, db, protocol) = (ctx.session.id, ctx.session.db, ctx.session.protocol);
    let multi = ctx
        .session
        .multi
        .as_ref()
        .map(|m| m.queue.len() as i64)
        .unwrap_or(-1);
    let watching = ctx.session.watched.len();
    if let Some(info) = ctx.state.clients.by_id.get_mut(&id) {
        info.last_command = name;
        info.last_interaction_ms = ctx.now_ms;
        info.db = db;
        info.protocol = protocol;
        info.multi = multi;
        info.watching = watching;
    }
}

/// Serves blocked clients whose keys were written, in the order they blocked, until no key
/// is ready. Runs under the engine lock right after the writing command (or EXEC).
pub(crate) fn serve_blocked(state: &mut State, shared: &Arc<Shared>, now_ms: u64) {
    while state.keyspace.blocking.has_ready() {
        for clients in state.keyspace.blocking.take_ready() {
            for client in clients {
                let Some(waiter) = state.keyspace.blocking.get(client) else {
                    continue;
                };
                let (db, protocol, read) = (waiter.db, waiter.protocol, waiter.read.clone());
                let mut session = SessionState::for_waiter(client, db, protocol);
                let mut ctx = Ctx {
                    state: &mut *state,
                    session: &mut session,
                    shared,
                    now_ms,
                    started: Instant::now(),
                };
                let answer = match &read {
                    crate::blocking::BlockedRead::XRead { .. } => {
                        xread::retry_blocked(&mut ctx, &read)
                    }
                    crate::blocking::BlockedRead::XReadGroup(group_read) => {
                        xreadgroup::retry_blocked(&mut ctx, group_read)
                    }
                    crate::blocking::BlockedRead::ListPop(pop) => {
                        lists::retry_blocked(&mut ctx, pop)
                    }
                };
                if let Some(reply) = answer {
                    if let Reply::Error(text) = &reply {
                        // Released with an error: a failed call of its command, as any other.
                        let name = match &read {
                            crate::blocking::BlockedRead::XRead { .. } => "xread",
                            crate::blocking::BlockedRead::XReadGroup(_) => "xreadgroup",
                            crate::blocking::BlockedRead::ListPop(pop) => pop.command,
                        };
                        if let Some(spec) = table().get(name) {
                            state.stats.command_mut(spec.stat_slot).failed_calls += 1;
                        }
                        state.stats.count_error(text);
                    }
                    if let Some(waiter) = state.keyspace.blocking.remove(client) {
                        waiter.slot.fill(reply);
                    }
                    // A served read is its own unit of change, after the write that served it.
                    state.propagation.flush();
                    // Being answered is interaction: `timeout` counts idleness from here.
                    if let Some(info) = state.clients.by_id.get_mut(&client) {
                        info.last_interaction_ms = now_ms;
                    }
                }
            }
        }
    }
}

impl Ctx<'_> {
    /// Blocks the calling client on `keys` until a write lets `read` answer, or the timeout.
    pub fn block(&mut self, read: crate::blocking::BlockedRead, timeout_ms: u64) {
        let slot = Arc::new(crate::blocking::Slot::default());
        let waiter = crate::blocking::Waiter {
            client: self.session.id,
            db: self.session.db,
            protocol: self.session.protocol,
            read,
            slot: slot.clone(),
            timeout_ms,
            block: 0,
        };
        self.state.keyspace.blocking.block(waiter);
        self.session.blocked = Some(slot);
    }
}

/// Handler for container commands called without a subcommand: Redis answers an arity error.
pub fn container_arity(_ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::error(error::arity(
        &String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
    ))
}

/// Builds a `HELP` reply the way Redis's `addReplyHelp` does: a header naming the command,
/// the command's own lines, then the `HELP` entry every container command shares.
pub fn help_reply(command: &str, lines: &[&str]) -> Reply {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Reply::Simple(format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        command.to_ascii_uppercase()
    )));
    out.extend(lines.iter().map(|l| Reply::simple(l)));
    out.push(Reply::simple("HELP"));
    out.push(Reply::simple("    Prints this help."));
    Reply::Array(out)
}

#[cfg(test)]
mod tests {
    use crate::test_support::{run, text};
    use crate::{Engine, Reply};

    use super::{table, Flag};

    /// A flag's bit is set exactly when the table lists the flag by name.
    #[test]
    fn flag_bits_agree_with_flag_names() {
        let specs = table()
            .values()
            .flat_map(|s| std::iter::once(s).chain(&s.subcommands));
        let mut seen = 0;
        for spec in specs {
            for flag in Flag::ALL {
                assert_eq!(spec.is(flag), spec.has_flag(flag.name()), "{}", spec.name);
                seen += spec.is(flag) as usize;
            }
        }
        assert!(seen > 100, "only {seen} flags set");
    }

    /// Every table entry and subcommand has a counter slot of its own, so INFO never adds
    /// one command's calls to another's; a subcommand counts under its own name.
    #[test]
    fn every_command_counts_in_its_own_slot() {
        let mut slots: Vec<usize> = table()
            .values()
            .flat_map(|s| std::iter::once(s).chain(&s.subcommands))
            .map(|s| s.stat_slot)
            .collect();
        let all = slots.len();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), all);
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["CONFIG", "GET", "maxmemory"]);
        run(&mut s, &["XLEN", "s"]);
        let info = text(run(&mut s, &["INFO", "commandstats"]));
        assert!(info.contains("cmdstat_config|get:calls=1,"), "{info}");
        assert!(info.contains("cmdstat_xlen:calls=1,"), "{info}");
        assert!(!info.contains("cmdstat_config:"), "{info}");
        assert!(!info.contains("cmdstat_xadd:"), "{info}");
    }

    /// The session's command hint answers repeats in any case, and never a name the table
    /// does not hold: a subcommand's table name sent as a command stays unknown.
    #[test]
    fn the_command_hint_changes_no_answer() {
        let engine = Engine::new();
        let mut s = engine.session();
        run(&mut s, &["XADD", "s", "1-1", "f", "v"]);
        assert_eq!(
            run(&mut s, &["xadd", "s", "1-2", "f", "v"]),
            Reply::text("1-2")
        );
        assert_eq!(
            run(&mut s, &["XaDd", "s", "1-3", "f", "v"]),
            Reply::text("1-3")
        );
        run(&mut s, &["XGROUP", "CREATE", "s", "g", "0"]);
        let unknown = run(&mut s, &["xgroup|create", "s", "h", "0"]);
        assert!(
            matches!(&unknown, Reply::Error(e) if e.starts_with("ERR unknown command")),
            "{unknown:?}"
        );
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(3));
        assert!(run(&mut s, &["XLENX", "s"]).is_error());
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(3));
    }
}
