//! A real Redis Cluster for tests: three `redis-server` nodes in cluster mode on loopback,
//! joined by `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes` as an operator
//! would, every node killed on drop. Skips (loudly) or fails like the single-server oracle
//! when `redis-server` or `redis-cli` is missing.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Connection;
use crate::oracle::{find_on_path, RedisServer, REQUIRE_REDIS_ENV};
use crate::reply::Reply;

/// How long the nodes get to agree that the cluster is up.
const FORMING_TIMEOUT: Duration = Duration::from_secs(30);

/// A running cluster of `nodes` masters covering all 16384 slots.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `count` nodes and forms the cluster, or `None` (after the oracle's warning)
    /// without `redis-server`.
    ///
    /// # Panics
    ///
    /// When `redis-cli` is missing under `RILL_REQUIRE_REDIS=1`, or the cluster does not
    /// form: a broken environment, not a reason to skip.
    pub fn start(count: usize) -> Option<RedisCluster> {
        let directives = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
        ];
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            nodes.push(RedisServer::start_with(&directives)?);
        }
        if count == 1 {
            // redis-cli will not create a cluster of fewer than three masters: one node takes
            // every slot itself.
            let node = nodes[0].addr();
            let assigned = Connection::open(node)
                .and_then(|mut c| c.call(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]));
            assert!(
                matches!(assigned, Ok(Reply::Simple(ref ok)) if ok == b"OK"),
                "CLUSTER ADDSLOTSRANGE on {node}: {assigned:?}"
            );
            let cluster = RedisCluster { nodes };
            cluster.wait_until_formed();
            return Some(cluster);
        }
        let Some(cli) = find_on_path("redis-cli") else {
            if std::env::var(REQUIRE_REDIS_ENV).as_deref() == Ok("1") {
                panic!("redis-cli was not found on PATH (Debian: apt-get install redis-tools)");
            }
            eprintln!("redis-cli not found: the Redis Cluster tests are SKIPPED");
            return None;
        };
        let mut create = Command::new(cli);
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(node.addr().to_string());
        }
        let output = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("redis-cli --cluster create: {e}"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_formed();
        Some(cluster)
    }

    /// The nodes' addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(RedisServer::addr).collect()
    }

    /// `redis://host:port/` for each node, the seeds a cluster client takes.
    pub fn urls(&self) -> Vec<String> {
        self.addrs()
            .iter()
            .map(|a| format!("redis://{a}/"))
            .collect()
    }

    /// Waits until every node says `cluster_state:ok` and knows every other node.
    fn wait_until_formed(&self) {
        let deadline = Instant::now() + FORMING_TIMEOUT;
        let want = format!("cluster_known_nodes:{}", self.nodes.len());
        for addr in self.addrs() {
            loop {
                let info = Connection::open(addr)
                    .and_then(|mut c| c.call(&["CLUSTER", "INFO"]))
                    .ok()
                    .and_then(|r| match r {
                        Reply::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                        _ => None,
                    })
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") && info.contains(&want) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not form within {FORMING_TIMEOUT:?}; {addr} says:\n{info}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
