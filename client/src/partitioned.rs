//! [`PartitionedStream`]: one logical stream spread over N stream keys, so that on Redis
//! Cluster its writes and reads spread over the nodes and throughput grows with the cluster.
//!
//! A stream is one key, and a key lives on one node: a single stream can never use more than
//! one node of a cluster. A partitioned stream is N streams with one hash tag each, chosen so
//! that partition `i` falls in the `i`-th of N equal slices of the 16384 hash slots, the way
//! `redis-cli --cluster create` assigns slots to nodes: with N a multiple of the node count,
//! every node gets the same number of partitions. Producers pick a partition by hashing a
//! key of their own (an order ID, a tenant), so entries with one key stay in order in one
//! partition; each partition has its own consumer group, and a [`WorkerPool`] from
//! [`PartitionedStream::worker_pool`] runs the same workers on every partition.
//!
//! The partition count is part of the layout: the tags depend on it, so a stream opened
//! with another count is another set of keys. Partition `i` of `orders` is the key
//! `orders:{<tag>}`, its dead letters go to
//! `orders:{<tag>}:dead` (the same slot). The partition of a producer key is FNV-1a 64 of its
//! bytes modulo N: stable across processes, versions and languages.

use std::sync::Arc;

use rill_engine::StreamId;

use crate::codec::Codec;
use crate::consumer::{ConsumerOptions, WorkerPool};
use crate::error::Result;
use crate::hash_slot::{self, SLOTS};
use crate::stream::Stream;
use crate::types::GroupStart;
use crate::Client;

/// One logical stream over N partition streams. Cheap to clone.
pub struct PartitionedStream<T> {
    name: String,
    partitions: Vec<Stream<T>>,
}

impl<T> Clone for PartitionedStream<T> {
    fn clone(&self) -> Self {
        PartitionedStream {
            name: self.name.clone(),
            partitions: self.partitions.clone(),
        }
    }
}

impl<T: 'static> PartitionedStream<T> {
    pub(crate) fn new(
        client: &Client,
        name: &str,
        partitions: usize,
        codec: Arc<dyn Codec<T>>,
    ) -> PartitionedStream<T> {
        let n = partitions.max(1);
        let partitions = (0..n)
            .map(|i| Stream::new(client.clone(), &partition_key(name, i, n), codec.clone()))
            .collect();
        PartitionedStream {
            name: name.to_string(),
            partitions,
        }
    }

    /// The same partitions with another codec.
    pub fn with_codec(mut self, codec: impl Codec<T>) -> PartitionedStream<T> {
        let codec: Arc<dyn Codec<T>> = Arc::new(codec);
        for p in &mut self.partitions {
            p.codec = codec.clone();
        }
        self
    }

    /// The logical stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The partition streams, in order: read, trim or inspect one like any stream.
    pub fn partitions(&self) -> &[Stream<T>] {
        &self.partitions
    }

    /// The partition a producer key goes to.
    pub fn partition_of(&self, key: &[u8]) -> usize {
        (fnv1a(key) % self.partitions.len() as u64) as usize
    }

    /// The partition stream a producer key goes to.
    pub fn partition_for(&self, key: &[u8]) -> &Stream<T> {
        &self.partitions[self.partition_of(key)]
    }

    /// Appends `value` to the partition of `key`; returns the partition and the entry's ID.
    /// Entries with the same key keep their order.
    pub async fn add(&self, key: &[u8], value: &T) -> Result<(usize, StreamId)> {
        let p = self.partition_of(key);
        Ok((p, self.partitions[p].add(value).await?))
    }

    /// Appends many entries, each to the partition of its key: one round trip per partition,
    /// all partitions at once. Returns each entry's partition and ID, in input order.
    pub async fn add_batch<K: AsRef<[u8]>>(
        &self,
        entries: &[(K, T)],
    ) -> Result<Vec<(usize, StreamId)>>
    where
        T: Clone,
    {
        let mut by_partition: Vec<Vec<usize>> = vec![Vec::new(); self.partitions.len()];
        for (i, (key, _)) in entries.iter().enumerate() {
            by_partition[self.partition_of(key.as_ref())].push(i);
        }
        let writes = by_partition.iter().enumerate().map(|(p, indexes)| {
            let values: Vec<T> = indexes.iter().map(|&i| entries[i].1.clone()).collect();
            let stream = &self.partitions[p];
            async move { stream.add_batch(&values).await }
        });
        let written = futures_util::future::try_join_all(writes).await?;
        let mut out = vec![(0, StreamId::MIN); entries.len()];
        for (p, ids) in written.into_iter().enumerate() {
            for (&i, id) in by_partition[p].iter().zip(ids) {
                out[i] = (p, id);
            }
        }
        Ok(out)
    }

    /// Creates `group` on every partition (and the partitions) unless it exists.
    pub async fn ensure_group(&self, group: &str, start: GroupStart) -> Result<()> {
        let all = self.partitions.iter().map(|p| p.ensure_group(group, start));
        futures_util::future::try_join_all(all).await?;
        Ok(())
    }

    /// Entries in all partitions.
    pub async fn len(&self) -> Result<u64> {
        let all = self.partitions.iter().map(|p| p.len());
        Ok(futures_util::future::try_join_all(all).await?.iter().sum())
    }

    /// Whether no partition has an entry.
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }
}

impl<T: Send + 'static> PartitionedStream<T> {
    /// A pool running [`WorkerPool::workers`] consumers of `group` on every partition (each
    /// partition's own group), sharing one handler and one set of metrics.
    pub fn worker_pool(&self, group: &str, options: ConsumerOptions) -> WorkerPool<T> {
        WorkerPool::over(self.partitions.clone(), group, options)
    }
}

/// The key of partition `i` of `n`: the name and a hash tag whose slot falls in the `i`-th of
/// `n` equal slices of the slot space.
fn partition_key(name: &str, i: usize, n: usize) -> String {
    let (low, high) = (
        (i as u64 * SLOTS as u64 / n as u64) as u32,
        ((i as u64 + 1) * SLOTS as u64 / n as u64) as u32,
    );
    // About n tries on average: each tag lands in the slice with probability 1/n.
    let tag = (0u64..)
        .map(|k| format!("{i}.{k}"))
        .find(|tag| (low..high.max(low + 1)).contains(&hash_slot::of_tag(tag.as_bytes())))
        .unwrap_or_else(|| i.to_string());
    format!("{name}:{{{tag}}}")
}

/// FNV-1a, 64 bits: the partition of a producer key.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_fall_in_their_slice_of_the_slots() {
        for n in [1, 2, 3, 6, 16] {
            for i in 0..n {
                let key = partition_key("orders", i, n);
                let tag = key
                    .split_once('{')
                    .and_then(|(_, rest)| rest.split_once('}'))
                    .map(|(tag, _)| tag)
                    .expect("a hash tag");
                let s = hash_slot::of_tag(tag.as_bytes());
                assert!(
                    (i as u32 * SLOTS / n as u32..(i as u32 + 1) * SLOTS / n as u32).contains(&s),
                    "{key}: slot {s}"
                );
            }
        }
    }

    #[test]
    fn producer_keys_spread_evenly() {
        let mut counts = [0usize; 4];
        for k in 0..4000 {
            counts[(fnv1a(format!("order-{k}").as_bytes()) % 4) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
