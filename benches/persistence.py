#!/usr/bin/env python3
"""Rill against redis-server persisting the same data: AOF rewrites or RDB snapshots.

For each server in turn (same machine, same settings), N entries are loaded into one stream
(pipelined XADD s * f v), then:

--mode aof (appendonly yes, appendfsync everysec, both with their default RDB base):
  1. BGREWRITEAOF: the pause the server took to start it (INFO latest_fork_usec: Redis's
     fork, Rill's snapshot under the engine lock) and the seconds until it finished;
  2. stop cleanly (SIGTERM) and start again on the same directory: seconds from the start of
     the process until it answers PING with PONG (it answers LOADING meanwhile), XLEN checked.

--mode rdb (appendonly no, RDB version 10 on both sides so the files are alike):
  1. SAVE: seconds until it answers, and the file's size;
  2. BGSAVE: the pause to start it, and the seconds until it finished;
  3. restart on the dump.rdb: seconds until PONG, XLEN checked.

Usage:
    python3 benches/persistence.py [--mode aof|rdb] [--rill target/release/rill-server]
                                   [--entries 10000000]

Stdlib only; reuses compare.py's server and RESP helpers.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402


def info_field(port: int, section: str, name: str) -> str:
    conn = compare.RespConnection(port)
    try:
        text = conn.call("INFO", section).decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    raise RuntimeError(f"INFO {section} has no {name}")


def wait_until(port: int, section: str, field: str, value: str) -> None:
    while info_field(port, section, field) != value:
        time.sleep(0.05)


def timed_call(port: int, *args: str) -> float:
    conn = compare.RespConnection(port, timeout=3600)
    started = time.perf_counter()
    try:
        reply = conn.call(*args)
    finally:
        conn.close()
    if isinstance(reply, compare.ServerError):
        raise RuntimeError(f"{' '.join(args)}: {reply}")
    return time.perf_counter() - started


def restart(label: str, binary: str, workdir: Path, entries: int, **server_args) -> float:
    """Starts the server on its files again: seconds until PONG; XLEN checked."""
    started = time.perf_counter()
    server = compare.Server(label, binary, workdir, None, ready_timeout=1800, **server_args)
    recovery_s = time.perf_counter() - started
    conn = compare.RespConnection(server.port)
    try:
        length = conn.call("XLEN", "s")
    finally:
        conn.close()
    server.stop()
    if length != entries:
        raise RuntimeError(f"{label}: XLEN s is {length} after the restart, expected {entries}")
    return recovery_s


def measure_aof(label: str, binary: str, workdir: Path, entries: int) -> dict[str, float]:
    server = compare.Server(label, binary, workdir, None, appendfsync="everysec")
    print(f"  {label}: {shlex.join(server.args)}", flush=True)
    loaded = compare.load_stream(server.port, entries, compare.fv_commands)
    print(f"  {label}: {entries:,} entries loaded in {loaded:.1f} s", flush=True)
    started = time.perf_counter()
    timed_call(server.port, "BGREWRITEAOF")
    wait_until(server.port, "persistence", "aof_rewrite_in_progress", "0")
    rewrite_s = time.perf_counter() - started
    pause_us = int(info_field(server.port, "stats", "latest_fork_usec"))
    size = int(info_field(server.port, "persistence", "aof_current_size"))
    server.stop()
    recovery_s = restart(label, binary, workdir, entries, appendfsync="everysec")
    result = {"pause_ms": pause_us / 1000, "rewrite_s": rewrite_s, "recovery_s": recovery_s,
              "aof_mb": size / 1e6}
    print(f"  {label}: {result}", flush=True)
    return result


def measure_rdb(label: str, binary: str, workdir: Path, entries: int) -> dict[str, float]:
    data = workdir / f"{label.lower()}-rdb"
    data.mkdir(exist_ok=True)
    extra = ["--dir", str(data)]
    if not compare.is_redis_binary(binary):
        extra += ["--rdb-write-version", "10"]
    server = compare.Server(label, binary, workdir, None, extra=extra)
    print(f"  {label}: {shlex.join(server.args)}", flush=True)
    loaded = compare.load_stream(server.port, entries, compare.fv_commands)
    print(f"  {label}: {entries:,} entries loaded in {loaded:.1f} s", flush=True)
    save_s = timed_call(server.port, "SAVE")
    size = (data / "dump.rdb").stat().st_size
    started = time.perf_counter()
    timed_call(server.port, "BGSAVE")
    wait_until(server.port, "persistence", "rdb_bgsave_in_progress", "0")
    bgsave_s = time.perf_counter() - started
    pause_us = int(info_field(server.port, "stats", "latest_fork_usec"))
    server.stop()
    load_s = restart(label, binary, workdir, entries, extra=extra)
    result = {"save_s": save_s, "rdb_mb": size / 1e6, "pause_ms": pause_us / 1000,
              "bgsave_s": bgsave_s, "load_s": load_s}
    print(f"  {label}: {result}", flush=True)
    return result


ROWS = {
    "aof": (("pause_ms", "BGREWRITEAOF pause (ms, latest_fork_usec)"),
            ("rewrite_s", "BGREWRITEAOF until done (s)"),
            ("aof_mb", "AOF size after the rewrite (MB)"),
            ("recovery_s", "restart until PONG (s)")),
    "rdb": (("save_s", "SAVE (s)"),
            ("rdb_mb", "dump.rdb size (MB)"),
            ("pause_ms", "BGSAVE pause (ms, latest_fork_usec)"),
            ("bgsave_s", "BGSAVE until done (s)"),
            ("load_s", "restart on dump.rdb until PONG (s)")),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("aof", "rdb"), default="aof")
    parser.add_argument("--rill", default=str(compare.DEFAULT_RILL))
    parser.add_argument("--redis", default="redis-server")
    parser.add_argument("--entries", type=int, default=10_000_000)
    args = parser.parse_args()
    command_line = shlex.join(["python3", *sys.argv])
    measure = measure_aof if args.mode == "aof" else measure_rdb
    results = {}
    with tempfile.TemporaryDirectory(prefix="rill-persistence-") as tmp:
        try:
            for label, binary in (("Redis", args.redis), ("Rill", args.rill)):
                results[label] = measure(label, binary, Path(tmp), args.entries)
        finally:
            compare.stop_all()
    rows = []
    for key, name in ROWS[args.mode]:
        redis, rill = results["Redis"][key], results["Rill"][key]
        rows.append([name, f"{redis:.2f}", f"{rill:.2f}", compare.ratio(rill, redis)])
    setting = "appendfsync everysec" if args.mode == "aof" else "RDB snapshots"
    print(f"\ncommand: {command_line}\n{args.entries:,} entries (XADD s * f v), {setting}\n")
    print(compare.markdown_table(["", "Redis", "Rill", "Rill/Redis"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
