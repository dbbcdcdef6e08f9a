#!/usr/bin/env python3
"""Memory of strings, hashes, lists, sets and sorted sets: Rill against redis-server holding the same data.

For each workload, on each server in turn: FLUSHALL, INFO used_memory, the same pipelined
commands (small collections: 20k keys of 10 items; large ones: one key of 200k items), INFO
used_memory again; the table shows the growth in MB and Rill's ratio. Rill's used_memory
counts the bytes it asks its allocator for (the server's counting allocator), Redis's is
zmalloc's (jemalloc's size classes). The RSS columns show what the process grew by, the
allocators' own overhead included (noisier: pages are touched and returned in batches).

Usage:
    python3 benches/collection_memory.py [--rill target/release/rill-server] [--redis redis-server]

Stdlib only.
"""

import argparse
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd(s, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    s.sendall(out)
def pipeline(s, cmds):
    buf=b""
    for c in cmds:
        out = b"*%d\r\n" % len(c)
        for a in c:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        buf+=out
    s.sendall(buf)
    # read replies count
    f=s.makefile('rb')
    for _ in cmds:
        line=f.readline()
        if line[:1]==b'$':
            n=int(line[1:]); f.read(n+2)
def memory(s):
    """(used_memory, used_memory_rss) from INFO memory."""
    cmd(s,"INFO","memory")
    f=s.makefile('rb'); line=f.readline(); n=int(line[1:]); data=f.read(n+2).decode()
    fields=dict(l.split(":",1) for l in data.split("\r\n") if ":" in l)
    return int(fields["used_memory"]), int(fields["used_memory_rss"])
def used(s):
    return memory(s)[0]
def run(binary, extra):
    """Each workload on a fresh server, so that RSS growth is not hidden by memory an
    earlier workload freed (allocators keep freed pages for reuse)."""
    res={}
    for name, build in WORKLOADS:
        d=tempfile.mkdtemp()
        port=free_port()
        p=subprocess.Popen([binary,"--port",str(port),"--save","","--dir",d]+extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s=None
        for _ in range(100):
            try:
                s=socket.create_connection(("127.0.0.1",port)); break
            except OSError:
                time.sleep(0.05)
        b,brss=memory(s)
        for batch in build():
            pipeline(s,batch)
        time.sleep(0.3)
        a,arss=memory(s)
        res[name]=(a-b,arss-brss)
        cmd(s,"SHUTDOWN","NOSAVE"); p.wait()
    return res
N=20000
WORKLOADS=[
 ("strings (20k SET k v)", lambda: [[("SET","k%d"%i,"value-%d"%i) for i in range(k,k+1000)] for k in range(0,N,1000)]),
 ("strings with a time to live (20k SET k v EX)", lambda: [[("SET","k%d"%i,"value-%d"%i,"EX","3600") for i in range(k,k+1000)] for k in range(0,N,1000)]),
 ("small hashes (20k x 10 fields)", lambda: [[("HSET","h%d"%i)+tuple(x for j in range(10) for x in ("f%d"%j,"v%d"%(i*j))) for i in range(k,k+1000)] for k in range(0,N,1000)]),
 ("one hash, 200k fields", lambda: [[("HSET","big","f%d"%i,"value-%d"%i) for i in range(k,k+1000)] for k in range(0,200000,1000)]),
 ("small lists (20k x 10)", lambda: [[("RPUSH","l%d"%i)+tuple("item-%d"%j for j in range(10)) for i in range(k,k+1000)] for k in range(0,N,1000)]),
 ("one list, 200k items", lambda: [[("RPUSH","biglist","item-%d"%i) for i in range(k,k+1000)] for k in range(0,200000,1000)]),
 ("small int sets (20k x 10)", lambda: [[("SADD","s%d"%i)+tuple(str(i*10+j) for j in range(10)) for i in range(k,k+1000)] for k in range(0,N,1000)]),
 ("one set, 200k members", lambda: [[("SADD","bigset","member-%d"%i) for i in range(k,k+1000)] for k in range(0,200000,1000)]),
 ("small sorted sets (20k x 10)", lambda: [[("ZADD","z%d"%i)+tuple(x for j in range(10) for x in (str(j*1.5),"m%d"%j)) for i in range(k,k+1000)] for k in range(0,N,1000)]),
 ("one sorted set, 200k members", lambda: [[("ZADD","bigz",str(i*0.5),"member-%d"%i) for i in range(k,k+1000)] for k in range(0,200000,1000)]),
]
args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
args.add_argument("--rill", default="target/release/rill-server")
args.add_argument("--redis", default="redis-server")
opts = args.parse_args()
r=run(opts.redis,[])
w=run(opts.rill,[])
print("| workload | Redis 7.0 (MB) | Rill (MB) | Rill/Redis | RSS growth: Redis | Rill | Rill/Redis |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name,_ in WORKLOADS:
    (ru,rr),(wu,wr)=r[name],w[name]
    print("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |"%(name, ru/1e6, wu/1e6, wu/max(ru,1), rr/1e6, wr/1e6, wr/max(rr,1)))
