#!/usr/bin/env python3
"""Rill against redis-server with the append-only log: rewrite pause, rewrite time, recovery.

For each server in turn (same machine, same settings: appendonly yes, appendfsync everysec,
Redis with aof-use-rdb-preamble no so both write their base as commands):

1. load N entries into one stream (pipelined XADD s * f v);
2. BGREWRITEAOF: the pause the server took to start it (INFO latest_fork_usec: Redis's fork,
   Rill's snapshot under the engine lock) and the seconds until it finished;
3. stop cleanly (SIGTERM) and start again on the same directory: seconds from the start of the
   process until it answers PING with PONG (it answers LOADING meanwhile), and XLEN checked.

Usage:
    python3 benches/persistence.py [--rill target/release/rill-server] [--entries 10000000]

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


def measure(label: str, binary: str, workdir: Path, entries: int) -> dict[str, float]:
    server = compare.Server(label, binary, workdir, None, appendfsync="everysec")
    print(f"  {label}: {shlex.join(server.args)}", flush=True)
    loaded = compare.load_stream(server.port, entries, compare.fv_commands)
    print(f"  {label}: {entries:,} entries loaded in {loaded:.1f} s", flush=True)
    conn = compare.RespConnection(server.port)
    started = time.perf_counter()
    try:
        conn.call("BGREWRITEAOF")
    finally:
        conn.close()
    while info_field(server.port, "persistence", "aof_rewrite_in_progress") != "0":
        time.sleep(0.05)
    rewrite_s = time.perf_counter() - started
    pause_us = int(info_field(server.port, "stats", "latest_fork_usec"))
    size = int(info_field(server.port, "persistence", "aof_current_size"))
    server.stop()
    started = time.perf_counter()
    server = compare.Server(label, binary, workdir, None, appendfsync="everysec", ready_timeout=1800)
    recovery_s = time.perf_counter() - started
    conn = compare.RespConnection(server.port)
    try:
        length = conn.call("XLEN", "s")
    finally:
        conn.close()
    server.stop()
    if length != entries:
        raise RuntimeError(f"{label}: XLEN s is {length} after recovery, expected {entries}")
    result = {"pause_ms": pause_us / 1000, "rewrite_s": rewrite_s, "recovery_s": recovery_s,
              "aof_mb": size / 1e6}
    print(f"  {label}: {result}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rill", default=str(compare.DEFAULT_RILL))
    parser.add_argument("--redis", default="redis-server")
    parser.add_argument("--entries", type=int, default=10_000_000)
    args = parser.parse_args()
    command_line = shlex.join(["python3", *sys.argv])
    results = {}
    with tempfile.TemporaryDirectory(prefix="rill-persistence-") as tmp:
        try:
            for label, binary in (("Redis", args.redis), ("Rill", args.rill)):
                results[label] = measure(label, binary, Path(tmp), args.entries)
        finally:
            compare.stop_all()
    rows = []
    for key, name in (("pause_ms", "BGREWRITEAOF pause (ms, latest_fork_usec)"),
                      ("rewrite_s", "BGREWRITEAOF until done (s)"),
                      ("aof_mb", "AOF size after the rewrite (MB)"),
                      ("recovery_s", "restart until PONG (s)")):
        redis, rill = results["Redis"][key], results["Rill"][key]
        rows.append([name, f"{redis:.2f}", f"{rill:.2f}", compare.ratio(rill, redis)])
    print(f"\ncommand: {command_line}\n{args.entries:,} entries (XADD s * f v), appendfsync everysec\n")
    print(compare.markdown_table(["", "Redis", "Rill", "Rill/Redis"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
