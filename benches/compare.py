#!/usr/bin/env python3
"""Rill against redis-server, side by side: throughput and memory per stream entry.

Throughput comes from a load client run against each server in turn (Redis, Rill, Redis,
Rill...) for several rounds so that drift on the machine hits both alike; the table reports the
median of the rounds. Memory is the growth of the server's resident set (VmRSS) while one stream
receives a known number of entries, divided by that number. Nothing here asks the servers how much
memory they think they use: RSS is what the machine pays.

The load client is `resp_load` (benches/src/bin/resp_load.rs) by default: redis-benchmark's
options and command templates, but it only finds where each reply ends instead of building it
as hiredis objects, so that range replies do not saturate the client's core before either
server's (`--client redis-benchmark` runs redis-benchmark itself).

Servers and the client are pinned to separate CPUs by default on machines with two or
more (--no-pin to turn that off). Next to the ratio of the medians the table shows the range of
the per-round ratios, and flags a workload whose rounds disagree by more than the difference
reported: such a figure is noise, not a result. Beside throughput it reports each server's CPU
per request, and flags a workload whose runs kept the client's own core busy (client-bound:
the client, not the server, set the pace).

Usage:
    python3 benches/compare.py [--rill target/release/rill-server] [--rounds 5]
                               [--client resp_load | redis-benchmark]
                               [--pin | --no-pin] [--requests N] [--entries 1000000]

Stdlib only (Python 3.11). Both servers are killed on exit, on Ctrl-C and on errors.
See benches/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import os
import platform
import random
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

WORKSPACE = Path(__file__).resolve().parent.parent
DEFAULT_RILL = WORKSPACE / "target" / "release" / "rill-server"
DEFAULT_RESP_LOAD = WORKSPACE / "target" / "release" / "resp_load"
BUILD_HINT = "build both with `cargo build --release -p rill-server -p rill-benches --bin resp_load`"

# Share of a run's wall time that the load client must spend on its CPU to count as the
# bottleneck (it runs on one core; at this share it had no time left to wait for the server).
CLIENT_BOUND_SHARE = 0.9

# Connections the load client opens, as the brief and the usual Redis comparisons use.
CLIENTS = 50
# Pipelined runs finish ~20x faster; give them more requests so each run lasts long enough
# to be measured rather than dominated by connection set-up.
PIPELINED_REQUEST_FACTOR = 10
# Entries in the stream that the XRANGE workload reads from.
XRANGE_PREFILL = 100_000
# Entries in each of the three streams the XREAD workload reads.
XREAD_PREFILL = 1000
# Entries each XREADGROUP call delivers.
XREADGROUP_COUNT = 10
# The XACK workload's PEL holds this many entries per request of the run (-r is the same number).
XACK_PEL_FACTOR = 2
# Entries per XREADGROUP call when the raw client moves a whole stream into the PEL.
PEL_READ_BATCH = 1000
# Commands per write in the raw-socket loader.
LOAD_BATCH = 1000

# The five-field event: field names and ~60-byte values. The first 48 bytes of each value are
# fixed text, the last 12 vary per entry (redis-benchmark's __rand_int__ is 12 digits, the loader
# writes a 12-digit counter), so no server can get away with storing one value a million times.
FIVE_FIELDS = [
    (b"user", b"user:7f3a9c2e-1b4d-4e8f-a6c5-0d9e8b7a6f5e:acct:-"),
    (b"event", b"event:checkout.completed:web:region=eu-west-1:ab"),
    (b"page", b"https://shop.example.com/cart/checkout/confirm?="),
    (b"session", b"sess:5c0ffee0-dead-4bee-f00d-0123456789ab:seq:00"),
    (b"agent", b"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0 b:"),
]
for _name, _prefix in FIVE_FIELDS:
    assert len(_prefix) == 48, (_name, len(_prefix))


def five_field_benchmark_args() -> list[str]:
    """The five-field XADD as redis-benchmark arguments; values end in __rand_int__ (12 digits)."""
    args = ["XADD", "s", "*"]
    for name, prefix in FIVE_FIELDS:
        args += [name.decode(), prefix.decode() + "__rand_int__"]
    return args


@dataclass
class Workload:
    """One load run shape (redis-benchmark options), with the server state it needs.

    The hooks get the server's port and the run's request count (-n). `fill` runs once per
    server, after FLUSHALL, before the first round; `before_run` runs before every round (the
    default, None, means FLUSHALL: every XADD run starts from an empty stream); `after_run` runs
    after every successful round and returns a note for the progress line, or raises to mark the
    run as failed (a server that did not do the work must not get a figure).
    """

    name: str
    command: list[str]
    pipeline: int
    # Passed as -r: only where the command contains __rand_int__. An int, or a function of -n.
    keyspace: int | Callable[[int], int] | None = None
    requests_factor: int = 1
    fill: Callable[[int, int], None] | None = None
    before_run: Callable[[int, int], None] | None = None
    after_run: Callable[[int, int], str | None] | None = None

    def keyspace_for(self, requests: int) -> int | None:
        return self.keyspace(requests) if callable(self.keyspace) else self.keyspace


# ---------------------------------------------------------------------------------------------
# RESP over a plain socket
# ---------------------------------------------------------------------------------------------


def encode(args: list[bytes]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class ServerError(Exception):
    """An error reply (`-ERR ...`) from a server."""


class RespConnection:
    """A minimal RESP2 client: enough to load streams fast and read replies back."""

    def __init__(self, port: int, timeout: float = 60.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self) -> None:
        self.sock.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos : end])
                self.pos = end + 2
                return line
            self._fill()

    def read_reply(self):
        """One reply; error replies come back as ServerError values (not raised)."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ServerError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) - self.pos < n + 2:
                self._fill()
            data = bytes(self.buf[self.pos : self.pos + n])
            self.pos += n + 2
            return data
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            return None if n < 0 else [self.read_reply() for _ in range(n)]
        if kind == b"%":
            n = int(rest)
            return [self.read_reply() for _ in range(2 * n)]
        if kind == b"_":
            return None
        if kind in (b",", b"#", b"("):
            return rest
        raise ValueError(f"unexpected RESP reply line: {line!r}")

    def call(self, *args: bytes | str):
        """Send one command and return its reply; raise on an error reply."""
        self.sock.sendall(encode([a.encode() if isinstance(a, str) else a for a in args]))
        reply = self.read_reply()
        if isinstance(reply, ServerError):
            raise reply
        return reply

    def pipeline(self, payload: bytes, count: int) -> None:
        """Send `count` pre-encoded commands in one write and read their replies."""
        self.sock.sendall(payload)
        for _ in range(count):
            reply = self.read_reply()
            if isinstance(reply, ServerError):
                raise reply


def fv_commands(start: int, count: int) -> bytes:
    """`count` XADD s * f v commands (all identical: the ID is chosen by the server)."""
    return encode([b"XADD", b"s", b"*", b"f", b"v"]) * count


def five_field_commands(start: int, count: int) -> bytes:
    """`count` five-field XADDs, values numbered start..start+count."""
    head = b"*13\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n"
    pieces = []
    for name, prefix in FIVE_FIELDS:
        pieces.append(b"$%d\r\n%s\r\n$60\r\n%s" % (len(name), name, prefix))
    parts = []
    for i in range(start, start + count):
        suffix = b"%012d\r\n" % i
        parts.append(head)
        for p in pieces:
            parts.append(p)
            parts.append(suffix)
    return b"".join(parts)


def load_stream(port: int, entries: int, make_commands) -> float:
    """Insert `entries` entries into stream `s` in pipelined batches; return seconds taken."""
    conn = RespConnection(port)
    started = time.perf_counter()
    try:
        done = 0
        while done < entries:
            n = min(LOAD_BATCH, entries - done)
            conn.pipeline(make_commands(done, n), n)
            done += n
        length = conn.call("XLEN", "s")
        if length != entries:
            raise RuntimeError(f"XLEN s is {length} after inserting {entries} entries")
    finally:
        conn.close()
    return time.perf_counter() - started


def explicit_id_commands(start: int, count: int) -> bytes:
    """`count` XADD s 1-<n> f v commands, n = start..start+count: IDs a client can name."""
    return b"".join(
        encode([b"XADD", b"s", b"1-%d" % n, b"f", b"v"]) for n in range(start, start + count)
    )


def pending_count(conn: RespConnection) -> int:
    """Entries in the PEL of group g on stream s (XPENDING summary form)."""
    return int(conn.call("XPENDING", "s", "g")[0])


def reset_group(conn: RespConnection) -> None:
    """Group g on stream s, created afresh at 0: nothing delivered, empty PEL."""
    conn.call("XGROUP", "DESTROY", "s", "g")
    conn.call("XGROUP", "CREATE", "s", "g", "0")


# XREADGROUP GROUP g c COUNT 10 STREAMS s >: every call takes 10 new entries, so the stream holds
# 10 per request plus a margin, and the group starts again from 0 before each round.


def xreadgroup_entries(requests: int) -> int:
    return requests * XREADGROUP_COUNT + max(10_000, requests)


def xreadgroup_fill(port: int, requests: int) -> None:
    load_stream(port, xreadgroup_entries(requests), fv_commands)


def xreadgroup_before(port: int, requests: int) -> None:
    conn = RespConnection(port)
    try:
        reset_group(conn)
    finally:
        conn.close()


def xreadgroup_after(port: int, requests: int) -> str:
    """Every call must have delivered 10 entries: the PEL holds exactly 10 x requests."""
    conn = RespConnection(port)
    try:
        pending = pending_count(conn)
    finally:
        conn.close()
    expected = requests * XREADGROUP_COUNT
    if pending != expected:
        raise RuntimeError(f"PEL holds {pending:,} entries after the run, expected {expected:,}")
    left = xreadgroup_entries(requests) - pending
    return f"{pending:,} entries delivered, {left:,} never read"


# XACK s g 1-__rand_int__ with -r N: the stream holds IDs 1-0 .. 1-(N-1), all of them read into
# the PEL of one consumer before each round; each call acks a random one of them, which may have
# been acked earlier in the run (reply 0: the PEL lookup still happens).


def xack_keyspace(requests: int) -> int:
    return requests * XACK_PEL_FACTOR


def xack_fill(port: int, requests: int) -> None:
    load_stream(port, xack_keyspace(requests), explicit_id_commands)


def xack_before(port: int, requests: int) -> None:
    """Group g afresh, then every entry of s read into consumer c's PEL, in pipelined chunks."""
    total = xack_keyspace(requests)
    read = encode([b"XREADGROUP", b"GROUP", b"g", b"c", b"COUNT", b"%d" % PEL_READ_BATCH,
                   b"STREAMS", b"s", b">"])  # fmt: skip
    conn = RespConnection(port)
    try:
        reset_group(conn)
        delivered = 0
        while delivered < total:
            calls = min(10, -(-(total - delivered) // PEL_READ_BATCH))
            conn.sock.sendall(read * calls)
            for _ in range(calls):
                reply = conn.read_reply()
                if isinstance(reply, ServerError):
                    raise reply
                if not reply:
                    raise RuntimeError(f"XREADGROUP ran dry after {delivered:,} of {total:,} entries")
                delivered += len(reply[0][1])
        pending = pending_count(conn)
        if pending != total:
            raise RuntimeError(f"PEL holds {pending:,} entries before the run, expected {total:,}")
    finally:
        conn.close()


def xack_after(port: int, requests: int) -> str:
    conn = RespConnection(port)
    try:
        acked = xack_keyspace(requests) - pending_count(conn)
    finally:
        conn.close()
    if acked <= 0:
        raise RuntimeError("no entry left the PEL: XACK acked nothing")
    return f"{acked / requests:.0%} of calls acked a pending entry"


def three_streams_fill(port: int, _requests: int) -> None:
    """Streams a, b and c, each with XREAD_PREFILL `f v` entries, for the XREAD workload."""
    conn = RespConnection(port)
    try:
        for key in (b"a", b"b", b"c"):
            done = 0
            while done < XREAD_PREFILL:
                n = min(LOAD_BATCH, XREAD_PREFILL - done)
                conn.pipeline(encode([b"XADD", key, b"*", b"f", b"v"]) * n, n)
                done += n
    finally:
        conn.close()


def keep_prefill(port: int, requests: int) -> None:
    """Read-only workloads: the state from `fill` serves every round."""


def at_pipeline(workload: Workload, depth: int, factor: int = PIPELINED_REQUEST_FACTOR) -> Workload:
    """`workload` (a P1 one) with `depth` commands per write per client and `factor` times the
    requests, so that the run lasts long enough to be measured."""
    return dataclasses.replace(
        workload, name=workload.name.replace(", P1", f", P{depth}"), pipeline=depth, requests_factor=factor
    )


def range_read(verb: str, first: str, second: str) -> Workload:
    """XRANGE or XREVRANGE COUNT 10 over a stream pre-filled with XRANGE_PREFILL entries."""
    return Workload(
        f"{verb} s {first} {second} COUNT 10 ({XRANGE_PREFILL // 1000}k entries), P1",
        [verb, "s", first, second, "COUNT", "10"],
        pipeline=1,
        fill=lambda port, _requests: load_stream(port, XRANGE_PREFILL, fv_commands),
        before_run=keep_prefill,
    )


XADD_P1 = Workload("XADD s * f v, P1", ["XADD", "s", "*", "f", "v"], pipeline=1)
XREADGROUP_P1 = Workload(
    f"XREADGROUP COUNT {XREADGROUP_COUNT} >, P1",
    ["XREADGROUP", "GROUP", "g", "c", "COUNT", str(XREADGROUP_COUNT), "STREAMS", "s", ">"],
    pipeline=1,
    fill=xreadgroup_fill,
    before_run=xreadgroup_before,
    after_run=xreadgroup_after,
)
XACK_P1 = Workload(
    "XACK s g <pending id>, P1",
    ["XACK", "s", "g", "1-__rand_int__"],
    pipeline=1,
    keyspace=xack_keyspace,
    fill=xack_fill,
    before_run=xack_before,
    after_run=xack_after,
)

XADD_FIVE_FIELDS_P1 = Workload(
    "XADD 5 fields x 60 B, P1", five_field_benchmark_args(), pipeline=1, keyspace=1_000_000
)

WORKLOADS = [
    XADD_P1,
    at_pipeline(XADD_P1, 32),
    XADD_FIVE_FIELDS_P1,
    at_pipeline(XADD_FIVE_FIELDS_P1, 32),
    range_read("XRANGE", "-", "+"),
    at_pipeline(range_read("XRANGE", "-", "+"), 16),
    at_pipeline(range_read("XREVRANGE", "+", "-"), 16),
    at_pipeline(XREADGROUP_P1, 16),
    Workload(
        "XREAD COUNT 100 STREAMS a b c 0 0 0, P16",
        ["XREAD", "COUNT", "100", "STREAMS", "a", "b", "c", "0", "0", "0"],
        pipeline=16,
        fill=three_streams_fill,
        before_run=keep_prefill,
    ),
    at_pipeline(XACK_P1, 16, PIPELINED_REQUEST_FACTOR // 2),
    Workload(
        "XPENDING s g - + 10 (extended), P16",
        ["XPENDING", "s", "g", "-", "+", "10"],
        pipeline=16,
        requests_factor=PIPELINED_REQUEST_FACTOR,
        fill=lambda port, _requests: xack_fill(port, 50_000),
        before_run=lambda port, _requests: xack_before(port, 50_000),
    ),
    XREADGROUP_P1,
    XACK_P1,
]


# ---------------------------------------------------------------------------------------------
# Server processes
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_redis_binary(path: str) -> bool:
    return Path(path).name.startswith("redis-server")


class Server:
    """A server process on a free port, with its log in a temp dir."""

    def __init__(self, label: str, binary: str, workdir: Path, pin_cpu: int | None,
                 extra: list[str] | None = None, appendfsync: str | None = None,
                 ready_timeout: float = 15.0, no_auto_rewrite: bool = False):
        self.label = label
        self.binary = binary
        self.port = free_port()
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"] + (extra or [])
        if appendfsync:
            # The same append-only log on both sides, each in a directory of its own.
            data = workdir / f"{label.lower()}-data"
            data.mkdir(exist_ok=True)
            args += ["--dir", str(data), "--appendonly", "yes", "--appendfsync", appendfsync]
            if no_auto_rewrite:
                args += ["--auto-aof-rewrite-percentage", "0"]
        # No automatic snapshots on either side: a save point firing in one server's run
        # would measure the save, not the workload.
        args += ["--save", ""]
        if is_redis_binary(binary) and not appendfsync:
            args += ["--appendonly", "no"]
        self.args = args
        self.log_path = workdir / f"{label.lower()}-{self.port}.log"
        self.log = open(self.log_path, "wb")
        preexec = (lambda: os.sched_setaffinity(0, {pin_cpu})) if pin_cpu is not None else None
        self.proc = subprocess.Popen(
            args,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # Own process group: a Ctrl-C in the terminal reaches only this script, which then
            # stops the servers itself.
            start_new_session=True,
            preexec_fn=preexec,
        )
        _LIVE.append(self)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} ({shlex.join(self.args)}) exited with {self.proc.returncode}:\n"
                    + self.log_tail()
                )
            try:
                conn = RespConnection(self.port, timeout=2.0)
                try:
                    if conn.call("PING") == b"PONG":
                        return
                finally:
                    conn.close()
            except (OSError, ServerError, ConnectionError) as e:
                last_error = e
            time.sleep(0.05)
        raise RuntimeError(f"{self.label} did not answer PING on port {self.port}: {last_error}")

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    kib = int(line.split()[1])
                    return kib * 1024
        raise RuntimeError("no VmRSS line")

    def cpu_seconds(self) -> float | None:
        """User and system CPU the server has used so far, its reaped children's included
        (Redis forks to rewrite its log; Rill's threads count in its own); Linux only, None
        elsewhere."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # utime, stime, cutime and cstime are the stat file's 14th to 17th fields, in ticks.
        return sum(int(fields[i]) for i in range(11, 15)) / os.sysconf("SC_CLK_TCK")

    def flushall(self) -> None:
        conn = RespConnection(self.port)
        try:
            conn.call("FLUSHALL")
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self in _LIVE:
            _LIVE.remove(self)


_LIVE: list[Server] = []


def stop_all() -> None:
    for server in list(_LIVE):
        try:
            server.stop()
        except Exception as e:  # keep stopping the others
            print(f"warning: could not stop {server.label}: {e}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Throughput
# ---------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    rps: float | None
    error: str | None = None
    note: str | None = None
    # Seconds the run lasted, and the CPU the server and the load client used in it.
    wall: float | None = None
    server_cpu: float | None = None
    bench_cpu: float | None = None

    def client_bound(self) -> bool:
        """Whether the load client kept its core busy the whole run: then the client, not the
        server, set the pace, and the throughput understates what the server can do."""
        if self.wall is None or self.bench_cpu is None:
            return False
        return self.bench_cpu >= CLIENT_BOUND_SHARE * self.wall


def run_benchmark(
    server: Server, workload: Workload, requests: int, timeout: float, pin_cpu: int | None, client: str
) -> RunResult:
    """One run of `client` (a resp_load binary, or "redis-benchmark"): both take the same options."""
    cmd = [
        client, "-h", "127.0.0.1", "-p", str(server.port),
        "-n", str(requests), "-c", str(CLIENTS), "-P", str(workload.pipeline),
    ]  # fmt: skip
    benchmark = Path(client).name == "redis-benchmark"
    if benchmark:
        cmd.append("--csv")
    keyspace = workload.keyspace_for(requests)
    if keyspace is not None:
        cmd += ["-r", str(keyspace)]
    cmd += workload.command
    preexec = (lambda: os.sched_setaffinity(0, {pin_cpu})) if pin_cpu is not None else None
    server_before, bench_before = server.cpu_seconds(), children_cpu_seconds()
    started = time.monotonic()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, preexec_fn=preexec
        )
    except subprocess.TimeoutExpired:
        return RunResult(None, f"{Path(client).name} timed out after {timeout:.0f}s")
    wall = time.monotonic() - started
    server_after = server.cpu_seconds()
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    bench_cpu = children_cpu_seconds() - bench_before
    # redis-benchmark asks for CONFIG GET save/appendonly first; a server without CONFIG makes
    # it print a harmless warning.
    stderr = "\n".join(
        l for l in done.stderr.splitlines() if l.strip() and "Could not fetch server CONFIG" not in l
    )
    if done.returncode != 0 or "Error from server" in stderr:
        text = (stderr or done.stdout).strip()
        first_line = text.splitlines()[0][:200] if text else f"exit status {done.returncode}"
        return RunResult(None, first_line)
    if not benchmark:
        words = done.stdout.split()
        if len(words) == 2 and words[0] == "rps":
            return RunResult(float(words[1]), wall=wall, server_cpu=server_cpu, bench_cpu=bench_cpu)
        return RunResult(None, f"no rps in resp_load output: {done.stdout[:200]!r}")
    rows = list(csv.reader(io.StringIO(done.stdout)))
    for row in rows[1:]:
        if len(row) >= 2:
            try:
                return RunResult(float(row[1]), wall=wall, server_cpu=server_cpu, bench_cpu=bench_cpu)
            except ValueError:
                pass
    return RunResult(None, f"no rps in redis-benchmark output: {done.stdout[:200]!r}")


def children_cpu_seconds() -> float:
    """User and system CPU of the child processes that ended so far (load client runs;
    the servers are still running and not counted)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prepare(server: Server, workload: Workload, requests: int) -> None:
    """Once per server, before the rounds."""
    server.flushall()
    if workload.fill:
        workload.fill(server.port, requests)


def before_run(server: Server, workload: Workload, requests: int) -> None:
    if workload.before_run is None:
        server.flushall()  # every XADD run starts from an empty stream
    else:
        workload.before_run(server.port, requests)


@dataclass
class ThroughputRow:
    workload: Workload
    requests: int
    runs: dict[str, list[RunResult]] = field(default_factory=dict)

    def median(self, label: str) -> float | None:
        rps = [r.rps for r in self.runs[label] if r.rps is not None]
        if not rps or len(rps) != len(self.runs[label]):
            return None
        return statistics.median(rps)

    def cpu_per_request(self, label: str) -> float | None:
        """The server's median CPU seconds per request over the rounds."""
        per = [r.server_cpu / self.requests for r in self.runs[label] if r.server_cpu is not None]
        return statistics.median(per) if per and len(per) == len(self.runs[label]) else None

    def client_bound(self, label: str) -> bool:
        """Whether most of the server's rounds were paced by the load client, not the server."""
        runs = self.runs[label]
        return bool(runs) and sum(r.client_bound() for r in runs) * 2 > len(runs)

    def error(self, label: str) -> str | None:
        return next((r.error for r in self.runs[label] if r.error), None)

    def round_ratios(self) -> list[float]:
        """Rill/Redis of each round: the two servers ran back to back, so each round's ratio
        saw the same state of the machine."""
        pairs = zip(self.runs.get("Rill", []), self.runs.get("Redis", []))
        return [rill.rps / redis.rps for rill, redis in pairs if rill.rps and redis.rps]


def throughput(servers: list[Server], args) -> list[ThroughputRow]:
    rows = []
    chosen = [w for w in WORKLOADS if not args.only or any(o.lower() in w.name.lower() for o in args.only)]
    for workload in chosen:
        row = ThroughputRow(workload, args.requests * workload.requests_factor)
        row.runs = {s.label: [] for s in servers}
        setup_error: dict[str, str] = {}
        for s in servers:
            try:
                prepare(s, workload, row.requests)
            except (ServerError, RuntimeError, OSError, ConnectionError) as e:
                setup_error[s.label] = f"setup: {type(e).__name__}: {e}"[:200]
        for rnd in range(1, args.rounds + 1):
            for s in servers:
                if s.label in setup_error:
                    result = RunResult(None, setup_error[s.label])
                else:
                    try:
                        before_run(s, workload, row.requests)
                        result = run_benchmark(s, workload, row.requests, args.timeout, args.bench_cpu, args.client)
                    except (ServerError, RuntimeError, OSError, ConnectionError) as e:
                        result = RunResult(None, f"before the run: {type(e).__name__}: {e}"[:200])
                if result.rps is not None and workload.after_run:
                    try:
                        result.note = workload.after_run(s.port, row.requests)
                    except (ServerError, RuntimeError, OSError, ConnectionError) as e:
                        result = RunResult(None, f"after the run: {type(e).__name__}: {e}"[:200])
                row.runs[s.label].append(result)
                shown = f"{result.rps:>12,.0f} ops/s" if result.rps is not None else f"ERROR {result.error}"
                if result.server_cpu is not None and result.wall:
                    shown += f", server CPU {result.server_cpu / result.wall:.0%}"
                if result.bench_cpu is not None and result.wall:
                    shown += f", client CPU {result.bench_cpu / result.wall:.0%}"
                if result.note:
                    shown += f" ({result.note})"
                print(f"  [{workload.name}] round {rnd}/{args.rounds} {s.label:<5} {shown}", flush=True)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------------


@dataclass
class MemoryResult:
    entries: int
    rss_before: int | None = None
    rss_after: int | None = None
    seconds: float | None = None
    error: str | None = None

    @property
    def per_entry(self) -> float | None:
        """Resident bytes the server grew by, per entry inserted."""
        if self.rss_before is None or self.rss_after is None:
            return None
        return (self.rss_after - self.rss_before) / self.entries


EVENT_TYPES = [b"order.created", b"order.paid", b"order.shipped", b"cart.updated",
               b"page.viewed", b"user.signed_in", b"payment.failed", b"refund.issued"]
COUNTRIES = [b"DE", b"FR", b"US", b"GB", b"NL", b"ES", b"IT", b"PL", b"SE", b"JP"]
DEVICES = [b"mobile", b"desktop", b"tablet", b"tv"]


def json_event(rng: random.Random, i: int) -> bytes:
    """One ~250-byte JSON event as an application (or the rill client's default codec) writes
    it: fixed keys, random IDs, numbers and choices, so the bytes vary from event to event."""
    return (
        b'{"event_id":"%s","type":"%s","ts":%d,"user_id":%d,"session":"%s",'
        b'"amount":%d.%02d,"currency":"EUR","items":%d,"country":"%s","device":"%s",'
        b'"source":"campaign-%d","latency_ms":%d,"ok":%s}'
        % (
            rng.randbytes(16).hex().encode(),
            rng.choice(EVENT_TYPES),
            1_733_000_000_000 + i * 7 + rng.randrange(7),
            rng.randrange(1, 10_000_000),
            rng.randbytes(8).hex().encode(),
            rng.randrange(0, 5000),
            rng.randrange(100),
            rng.randrange(1, 20),
            rng.choice(COUNTRIES),
            rng.choice(DEVICES),
            rng.randrange(1000),
            rng.randrange(1, 2000),
            rng.choice([b"true", b"false"]),
        )
    )


def json_event_commands(start: int, count: int) -> bytes:
    """`count` XADD s * data <JSON event>, seeded by `start` so both servers get the same bytes."""
    rng = random.Random(start)
    return b"".join(
        encode([b"XADD", b"s", b"*", b"data", json_event(rng, i)]) for i in range(start, start + count)
    )


MEMORY_WORKLOADS = [
    ("one field: f v", fv_commands),
    ("five fields x 60 B", five_field_commands),
    ("JSON events ~250 B, varied", json_event_commands),
]


def memory(binaries: dict[str, str], workdir: Path, args) -> list[tuple[str, dict[str, MemoryResult]]]:
    rows = []
    for name, make_commands in MEMORY_WORKLOADS:
        results: dict[str, MemoryResult] = {}
        for label, binary in binaries.items():
            result = MemoryResult(args.entries)
            server = Server(label, binary, workdir, args.server_cpu)  # a fresh process each time
            try:
                time.sleep(0.2)
                result.rss_before = server.rss_bytes()
                result.seconds = load_stream(server.port, args.entries, make_commands)
                time.sleep(0.5)  # let background allocator work settle
                result.rss_after = server.rss_bytes()
            except (ServerError, RuntimeError, OSError, ConnectionError) as e:
                result.error = f"{type(e).__name__}: {e}"[:200]
                result.rss_before = result.rss_after = None
            finally:
                server.stop()
            results[label] = result
            if result.error:
                print(f"  [{name}] {label:<5} ERROR {result.error}", flush=True)
            else:
                print(
                    f"  [{name}] {label:<5} RSS {result.rss_before / 2**20:.1f} MiB -> "
                    f"{result.rss_after / 2**20:.1f} MiB, {result.per_entry:.1f} B/entry "
                    f"(loaded in {result.seconds:.1f}s)",
                    flush=True,
                )
        rows.append((name, results))
    return rows


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def idle_connections(binaries: dict[str, str], workdir: Path, count: int) -> dict[str, float | None]:
    """Resident bytes per idle client: a fresh server, `count` connections that each sent one
    PING and then wait, RSS growth divided by `count`."""
    results: dict[str, float | None] = {}
    for label, binary in binaries.items():
        server = Server(label, binary, workdir, None, extra=["--maxclients", str(count + 100)])
        sockets: list[socket.socket] = []
        try:
            time.sleep(0.2)
            before = server.rss_bytes()
            for _ in range(count):
                s = socket.create_connection(("127.0.0.1", server.port))
                s.sendall(b"PING\r\n")
                sockets.append(s)
            for s in sockets:
                if s.recv(16) != b"+PONG\r\n":
                    raise RuntimeError("no PONG")
            time.sleep(0.5)
            after = server.rss_bytes()
            results[label] = (after - before) / count
            print(f"  [idle connections] {label:<5} {results[label]:.0f} B/connection", flush=True)
        except (RuntimeError, OSError) as e:
            print(f"  [idle connections] {label:<5} ERROR {e}", flush=True)
            results[label] = None
        finally:
            for s in sockets:
                s.close()
            server.stop()
    return results


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    right = [i > 0 for i in range(len(header))]

    def fmt(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(c.rjust(widths[i]) if right[i] else c.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if right[i] else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(header), sep] + [fmt(r) for r in rows])


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def ratio_spread(ratios: list[float]) -> tuple[str, str]:
    """The range of the per-round ratios, and a warning when the rounds do not agree on the
    answer: some put Rill ahead and some behind (the range holds parity), or they scatter
    around their median by more than the median's distance from parity."""
    if not ratios:
        return "n/a", ""
    low, high, mid = min(ratios), max(ratios), statistics.median(ratios)
    if len(ratios) < 2:
        return f"{low:.2f}", "one round: no spread"
    noisy = low <= 1 <= high or (high - low) / 2 > abs(mid - 1)
    return f"{low:.2f}-{high:.2f}", "spread > difference" if noisy else ""


def ops(v: float | None) -> str:
    return "error" if v is None else f"{v:,.0f}"


def tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def busy_cpus(seconds: float = 1.0, threshold: float = 0.2) -> dict[int, float]:
    """CPUs that something else kept busy for more than `threshold` of `seconds`, before any
    server starts: a stray process on the load client's core halves what the client sends,
    and both servers then sit idle in turn (a run with one measured every ratio wrongly)."""
    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name != "cpu":
                    values = [int(v) for v in fields]
                    idle = values[3] + (values[4] if len(values) > 4 else 0)
                    out[int(name[3:])] = (sum(values), idle)
        return out
    try:
        before = sample()
        time.sleep(seconds)
        after = sample()
    except (OSError, ValueError):
        return {}
    busy = {}
    for cpu, (total, idle) in after.items():
        t0, i0 = before.get(cpu, (total, idle))
        if total > t0:
            share = 1 - (idle - i0) / (total - t0)
            if share > threshold:
                busy[cpu] = share
    return busy


def environment(args) -> list[str]:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = tool_version(["git", "-C", str(WORKSPACE), "describe", "--always", "--dirty"])
    lines = [
        f"machine:    {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"redis:      {tool_version([args.redis, '--version'])}",
        f"rill:       {args.rill} (workspace {commit})",
        f"persistence: " + (f"rill-server without persistence against rill-server with appendonly yes, "
                            f"appendfsync {args.appendfsync}" if args.persistence_cost else
                            f"appendonly yes, appendfsync {args.appendfsync} (both servers)"
                            if args.appendfsync else "none (both servers)")
                   + (", auto-aof-rewrite-percentage 0" if args.no_auto_rewrite else ""),
        f"benchmark:  {Path(args.client).name} -c {CLIENTS}, {args.rounds} rounds, median; "
        f"{args.requests:,} requests per run ({args.requests * PIPELINED_REQUEST_FACTOR:,} at P32)",
    ]
    if args.pin:
        lines.append(f"pinning:    servers on CPU {args.server_cpu}, the load client on CPU {args.bench_cpu}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rill", default=str(DEFAULT_RILL), help="rill-server binary (default: %(default)s)")
    parser.add_argument("--redis", default="redis-server", help="redis-server binary (default: %(default)s)")
    parser.add_argument("--client", default=str(DEFAULT_RESP_LOAD),
                        help="load client: a resp_load binary, or redis-benchmark (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each workload per server (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=200_000,
                        help=f"requests per load client run; x{PIPELINED_REQUEST_FACTOR} at pipeline 32 (default: %(default)s)")
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries inserted for the memory figures (default: %(default)s)")
    pinning = parser.add_mutually_exclusive_group()
    pinning.add_argument("--pin", action="store_true",
                         help="pin the servers to CPU 0 and the load client to CPU 1, so neither steals the "
                              "other's core (the default on machines with two or more CPUs)")
    pinning.add_argument("--no-pin", action="store_true", help="let the scheduler place servers and the load client")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before one load client run is abandoned")
    parser.add_argument("--skip-throughput", action="store_true", help="only measure memory")
    parser.add_argument("--appendfsync", choices=["always", "everysec", "no"],
                        help="run both servers with appendonly yes and this appendfsync (default: no persistence)")
    parser.add_argument("--only", action="append", default=[],
                        help="run only the workloads whose name contains this text (repeatable)")
    parser.add_argument("--skip-memory", action="store_true", help="only measure throughput")
    parser.add_argument("--no-auto-rewrite", action="store_true",
                        help="with --appendfsync: auto-aof-rewrite-percentage 0 on both servers, so the "
                             "log's own cost shows without background rewrites sharing the server's CPU")
    parser.add_argument("--persistence-cost", action="store_true",
                        help="with --appendfsync: compare rill-server with that log against rill-server "
                             "without persistence, instead of against Redis (throughput only)")
    parser.add_argument("--connections", type=int, default=10_000,
                        help="idle connections opened for the per-connection memory figure (default: %(default)s)")
    args = parser.parse_args()

    if args.rounds < 1 or args.requests < 1 or args.entries < 1:
        parser.error("--rounds, --requests and --entries must be positive")
    if args.rounds < 3:
        print(f"note: {args.rounds} round(s); use at least 5 for figures worth publishing", file=sys.stderr)
    if args.no_auto_rewrite and not args.appendfsync:
        parser.error("--no-auto-rewrite needs --appendfsync")
    if args.persistence_cost and not args.appendfsync:
        parser.error("--persistence-cost needs --appendfsync")
    if args.persistence_cost:
        args.skip_memory = True
    if args.pin and (os.cpu_count() or 1) < 2:
        parser.error("--pin needs at least 2 CPUs")
    # Pinned unless asked otherwise: unpinned, the scheduler moves servers and client between
    # cores mid-run, and that alone swings a run by more than most differences measured here.
    args.pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    args.server_cpu, args.bench_cpu = (0, 1) if args.pin else (None, None)
    for tool in (args.client, args.redis):
        if shutil.which(tool) is None:
            parser.error(f"{tool} not found" + ("" if tool == args.redis else f"; {BUILD_HINT}"))
    rill = shutil.which(args.rill) or (args.rill if os.access(args.rill, os.X_OK) else None)
    if rill is None:
        parser.error(f"Rill binary {args.rill} not found or not executable; {BUILD_HINT}")
    # absolute(), not resolve(): redis-server is a symlink whose name selects its mode.
    args.rill = str(Path(rill).absolute()) if os.sep in rill else rill

    command_line = shlex.join(["python3", *sys.argv])
    # SIGTERM / SIGHUP should clean up like Ctrl-C does.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    binaries = {"Redis": args.redis, "Rill": args.rill}
    throughput_rows: list[ThroughputRow] = []
    memory_rows = []
    idle_rows: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="rill-compare-") as tmp:
        workdir = Path(tmp)
        try:
            if not args.skip_throughput:
                busy = busy_cpus()
                if busy:
                    shares = ", ".join(f"CPU {cpu} {share:.0%}" for cpu, share in sorted(busy.items()))
                    print(f"WARNING: before any server started, something kept {shares} busy; "
                          "the figures will measure it too (see `ps -eo pid,psr,pcpu,args --sort=-pcpu`)",
                          file=sys.stderr, flush=True)
                print(f"== throughput ({Path(args.client).name}, alternating servers)", flush=True)
                if args.persistence_cost:
                    # The baseline takes Redis's column: the same binary without a log.
                    servers = [Server("Redis", args.rill, workdir, args.server_cpu),
                               Server("Rill", args.rill, workdir, args.server_cpu,
                                      appendfsync=args.appendfsync, no_auto_rewrite=args.no_auto_rewrite)]
                else:
                    servers = [Server(label, b, workdir, args.server_cpu, appendfsync=args.appendfsync,
                                      no_auto_rewrite=args.no_auto_rewrite)
                               for label, b in binaries.items()]
                for s in servers:
                    print(f"  {s.label}: {shlex.join(s.args)} (pid {s.proc.pid})")
                throughput_rows = throughput(servers, args)
                for s in servers:
                    s.stop()
            if not args.skip_memory:
                print(f"== memory (VmRSS growth over {args.entries:,} entries, fresh process each)", flush=True)
                memory_rows = memory(binaries, workdir, args)
                print(f"== memory per idle connection ({args.connections:,} connections)", flush=True)
                idle_rows = idle_connections(binaries, workdir, args.connections)
        except KeyboardInterrupt:
            print("\ninterrupted; stopping servers", file=sys.stderr)
            return 130
        except Exception:
            for s in _LIVE:
                print(f"--- {s.label} log tail ---\n{s.log_tail()}", file=sys.stderr)
            raise
        finally:
            stop_all()

    out = ["", "== results", "", f"command: {command_line}", ""]
    out += environment(args)
    if throughput_rows:
        out += ["", "Throughput (ops/s, median of rounds; higher is better):", ""]
        rows = []
        unclear = []
        client_bound = []
        for r in throughput_rows:
            redis, rill = r.median("Redis"), r.median("Rill")
            spread, verdict = ratio_spread(r.round_ratios())
            if r.client_bound("Rill"):
                verdict = "; ".join(v for v in (verdict, "client-bound") if v)
                client_bound.append(r.workload.name)
            cpu = ratio(r.cpu_per_request("Redis"), r.cpu_per_request("Rill"))
            rows.append([r.workload.name, ops(redis), ops(rill), ratio(rill, redis), spread, cpu, verdict])
            if "spread > difference" in verdict:
                unclear.append(r.workload.name)
        if args.persistence_cost:
            base, logged = "no log", args.appendfsync
            headers = ["workload", f"Rill {base} ops/s", f"Rill {logged} ops/s", f"{logged}/{base}",
                       f"rounds' {logged}/{base}", f"CPU/request {base}/{logged}", "note"]
            out.append(f"  (--persistence-cost: the Redis column is rill-server without persistence, "
                       f"the Rill column rill-server with appendfsync {args.appendfsync})")
        else:
            headers = ["workload", "Redis ops/s", "Rill ops/s", "Rill/Redis", "rounds' Rill/Redis",
                       "CPU/request Redis/Rill", "note"]
        out.append(markdown_table(headers, rows))
        out.append("  Rill/Redis is the ratio of the medians; the rounds' column is the range of the "
                   "per-round ratios (each round ran both servers back to back). CPU/request is "
                   "the server CPU each request cost (medians), Redis's over Rill's: above 1, Rill "
                   "does the same work with less.")
        if client_bound:
            out.append("  CLIENT-BOUND: in " + ", ".join(client_bound) + " the load client kept its "
                       "core busy through most of Rill's rounds, so the client set the pace and the "
                       "throughput ratio understates Rill; the CPU/request column is the server's "
                       "own measure there.")
        if unclear:
            out.append("  WARNING: for " + ", ".join(unclear) + " the rounds disagree more than the "
                       "difference reported (their range holds parity, or its half-width exceeds "
                       "|median ratio - 1|): not a result; run more rounds, pinned, on a quieter machine.")
        for r in throughput_rows:
            notes = [f"{label}: {runs[-1].note}" for label, runs in r.runs.items() if runs and runs[-1].note]
            if notes:
                out.append(f"  {r.workload.name} (last round): " + "; ".join(notes))
        for r in throughput_rows:
            for label in ("Redis", "Rill"):
                if r.error(label):
                    out.append(f"  {label} error in {r.workload.name!r}: {r.error(label)}")
    if memory_rows:
        out += ["", f"Memory (VmRSS growth / {args.entries:,} entries in one stream; lower is better):", ""]
        rows = []
        for name, results in memory_rows:
            redis, rill = results["Redis"].per_entry, results["Rill"].per_entry
            cell = lambda v: "error" if v is None else f"{v:.1f}"
            rows.append([name, cell(redis), cell(rill), ratio(rill, redis)])
        out.append(markdown_table(["stream entries", "Redis B/entry", "Rill B/entry", "Rill/Redis"], rows))
        for name, results in memory_rows:
            for label, res in results.items():
                if res.error:
                    out.append(f"  {label} error in {name!r}: {res.error}")
    if idle_rows:
        out += ["", f"Memory per idle connection (VmRSS growth / {args.connections:,} connections; lower is better):", ""]
        cell = lambda v: "error" if v is None else f"{v:.0f}"
        redis, rill = idle_rows.get("Redis"), idle_rows.get("Rill")
        out.append(markdown_table(["", "Redis B/conn", "Rill B/conn", "Rill/Redis"],
                                  [["idle connection", cell(redis), cell(rill), ratio(rill, redis)]]))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        stop_all()
