//! `Stream<T>`: a typed handle on one stream key: publish, read, trim, consumer groups,
//! pending entries, claims, and introspection.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill_engine::{Reply, StreamId};

use crate::batch::{Batch, Undecodable};
use crate::codec::Codec;
use crate::command::Command;
use crate::error::{Error, Result};
use crate::parse::{self, RawEntry};
use crate::types::*;
use crate::Client;

/// A typed stream. Cheap to clone; every clone talks through the same client.
pub struct Stream<T> {
    pub(crate) client: Client,
    pub(crate) key: Bytes,
    pub(crate) codec: Arc<dyn Codec<T>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Stream<T> {
    fn clone(&self) -> Self {
        Stream {
            client: self.client.clone(),
            key: self.key.clone(),
            codec: Arc::clone(&self.codec),
            _type: PhantomData,
        }
    }
}

/// Builds an argument vector from anything string-like.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$(Bytes::from(AsRef::<[u8]>::as_ref(&$a).to_vec())),*]
    };
}

impl<T: 'static> Stream<T> {
    pub(crate) fn new(client: Client, key: &str, codec: Arc<dyn Codec<T>>) -> Stream<T> {
        Stream {
            client,
            key: Bytes::from(key.to_string()),
            codec,
            _type: PhantomData,
        }
    }

    /// The same stream with another codec (see [`crate::codec`]).
    pub fn with_codec(mut self, codec: impl Codec<T>) -> Stream<T> {
        self.codec = Arc::new(codec);
        self
    }

    /// The stream's key.
    pub fn key(&self) -> &str {
        std::str::from_utf8(&self.key).unwrap_or_default()
    }

    /// The codec entries are written and read with.
    pub fn codec(&self) -> &dyn Codec<T> {
        &*self.codec
    }

    fn decode(&self, raw: RawEntry) -> Result<Entry<T>> {
        let id = raw.id;
        let Some(fields) = raw.fields else {
            return Err(Error::Codec {
                id: Some(id),
                message: "the entry was deleted".into(),
            });
        };
        let value = self.codec.decode(&fields).map_err(|e| with_id(e, id))?;
        Ok(Entry { id, value })
    }

    fn decode_all(&self, raw: Vec<RawEntry>) -> Result<Vec<Entry<T>>> {
        raw.into_iter().map(|r| self.decode(r)).collect()
    }

    /// Decodes an entry a group read delivered; one that does not decode is reported on its
    /// own, since it is pending all the same.
    fn decode_delivered(
        &self,
        raw: RawEntry,
        deliveries: Option<u64>,
    ) -> std::result::Result<Entry<T>, Undecodable> {
        let (id, fields) = (raw.id, raw.fields.clone().unwrap_or_default());
        self.decode(raw).map_err(|error| Undecodable {
            id,
            fields,
            deliveries,
            error,
        })
    }

    /// Decodes every entry a group read delivered (see [`Stream::decode_delivered`]).
    fn decode_batch(&self, raw: Vec<RawEntry>, deliveries: Option<u64>) -> Batch<Entry<T>> {
        raw.into_iter()
            .map(|r| self.decode_delivered(r, deliveries))
            .collect()
    }

    /// XADD of `value`: as values when nothing but its fields is given (the embedded engine
    /// then parses nothing), as text otherwise.
    fn xadd_command(&self, value: &T, id: Option<StreamId>, trim: Option<Trim>) -> Result<Command> {
        if id.is_none() && trim.is_none() {
            return Ok(Command::Add {
                key: self.key.clone(),
                fields: self.codec.encode(value)?,
            });
        }
        self.xadd_args_idempotent(value, id, trim, &[])
            .map(Command::Text)
    }

    /// XADD's arguments with `idempotency` (`IDMP pid iid` or `IDMPAUTO pid`) before the ID.
    fn xadd_args_idempotent(
        &self,
        value: &T,
        id: Option<StreamId>,
        trim: Option<Trim>,
        idempotency: &[&[u8]],
    ) -> Result<Vec<Bytes>> {
        let fields = self.codec.encode(value)?;
        // Built by hand: this runs once per message, and on the embedded engine the message
        // costs little more than its arguments.
        let mut a = Vec::with_capacity(6 + idempotency.len() + 2 * fields.len());
        a.push(Bytes::from_static(b"XADD"));
        a.push(self.key.clone());
        a.extend(idempotency.iter().map(|w| Bytes::copy_from_slice(w)));
        if let Some(t) = trim {
            a.extend(t.args().into_iter().map(Bytes::from));
        }
        a.push(id.map_or(Bytes::from_static(b"*"), StreamId::to_bytes));
        for (f, v) in fields {
            a.push(f);
            a.push(v);
        }
        Ok(a)
    }

    /// Appends an entry with an auto-generated ID.
    pub async fn add(&self, value: &T) -> Result<StreamId> {
        self.add_with(value, None, None).await
    }

    /// Appends an entry with an explicit ID and/or a trim policy applied in the same command.
    pub async fn add_with(
        &self,
        value: &T,
        id: Option<StreamId>,
        trim: Option<Trim>,
    ) -> Result<StreamId> {
        let reply = self
            .client
            .backend
            .call(self.xadd_command(value, id, trim)?)
            .await?;
        parse::id(&reply)
    }

    /// Appends an entry at most once per (`producer`, `iid`) (XADD IDMP, Redis 8.6 and
    /// rill-server): a retry after a lost reply answers the first attempt's ID and adds
    /// nothing, for as long as the stream remembers the iid (see
    /// [`Stream::configure_idempotency`]). A server without IDMP answers an error.
    pub async fn add_idempotent(&self, producer: &str, iid: &[u8], value: &T) -> Result<StreamId> {
        let words: [&[u8]; 3] = [b"IDMP", producer.as_bytes(), iid];
        let a = self.xadd_args_idempotent(value, None, None, &words)?;
        parse::id(&self.client.backend.call(a).await?)
    }

    /// Like [`Stream::add_idempotent`] with the iid derived by the server from the entry's
    /// fields and values (XADD IDMPAUTO): the same content from the same producer is added
    /// once, whatever the order of its fields.
    pub async fn add_idempotent_auto(&self, producer: &str, value: &T) -> Result<StreamId> {
        let words: [&[u8]; 2] = [b"IDMPAUTO", producer.as_bytes()];
        let a = self.xadd_args_idempotent(value, None, None, &words)?;
        parse::id(&self.client.backend.call(a).await?)
    }

    /// How long (whole seconds, 1 to 86400) and how many per producer (1 to 10000) the
    /// stream remembers idempotent IDs (XCFGSET). A change forgets those remembered so far.
    pub async fn configure_idempotency(
        &self,
        duration: Option<std::time::Duration>,
        max_size: Option<u64>,
    ) -> Result<()> {
        let mut a = args!["XCFGSET", self.key];
        if let Some(d) = duration {
            a.extend(args!["IDMP-DURATION", d.as_secs().to_string()]);
        }
        if let Some(n) = max_size {
            a.extend(args!["IDMP-MAXSIZE", n.to_string()]);
        }
        self.client.backend.call(a).await?;
        Ok(())
    }

    /// Hands pending entries of `group` back without acknowledging them (XNACK, Redis 8.8
    /// and rill-server): they stay pending, owned by no one, and the next claim of any
    /// consumer takes them at once. Returns how many were pending.
    pub async fn nack(&self, group: &str, mode: NackMode, ids: &[StreamId]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut a = args!["XNACK", self.key, group, mode.name(), "IDS"];
        a.push(Bytes::from(ids.len().to_string()));
        a.extend(id_args(ids));
        let reply = self.client.backend.call(a).await?;
        Ok(parse::integer(&reply)? as u64)
    }

    /// Appends many entries in one round trip; IDs in order.
    pub async fn add_batch(&self, values: &[T]) -> Result<Vec<StreamId>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let commands = values
            .iter()
            .map(|v| self.xadd_command(v, None, None))
            .collect::<Result<Vec<_>>>()?;
        let replies = self.client.backend.call_many(commands).await?;
        replies.into_iter().map(|r| parse::id(&r?)).collect()
    }

    /// Entries in an ID range, oldest first, at most `count`.
    pub async fn range(&self, range: IdRange, count: Option<usize>) -> Result<Vec<Entry<T>>> {
        self.range_command("XRANGE", range.start.arg(true), range.end.arg(false), count)
            .await
    }

    /// Entries in an ID range, newest first, at most `count`.
    pub async fn rev_range(&self, range: IdRange, count: Option<usize>) -> Result<Vec<Entry<T>>> {
        self.range_command(
            "XREVRANGE",
            range.end.arg(false),
            range.start.arg(true),
            count,
        )
        .await
    }

    /// XRANGE or XREVRANGE, bounds already in the order the verb takes them.
    async fn range_command(
        &self,
        verb: &str,
        first: String,
        second: String,
        count: Option<usize>,
    ) -> Result<Vec<Entry<T>>> {
        let mut a = args![verb, self.key, first, second];
        if let Some(n) = count {
            a.extend(args!["COUNT", n.to_string()]);
        }
        let reply = self.client.backend.call(a).await?;
        self.decode_all(parse::entries(&reply)?)
    }

    /// The newest `n` entries, oldest first.
    pub async fn latest(&self, n: usize) -> Result<Vec<Entry<T>>> {
        let mut entries = self.rev_range(IdRange::all(), Some(n)).await?;
        entries.reverse();
        Ok(entries)
    }

    /// Entries after `id` (XREAD), at most `count`; with `block`, waits that long for the first
    /// one when there is none yet (`Duration::ZERO` waits forever).
    pub async fn read_from(
        &self,
        id: StreamId,
        count: Option<usize>,
        block: Option<Duration>,
    ) -> Result<Vec<Entry<T>>> {
        let mut a = args!["XREAD"];
        if let Some(n) = count {
            a.extend(args!["COUNT", n.to_string()]);
        }
        if let Some(b) = block {
            a.extend(args!["BLOCK", block_ms(b).to_string()]);
        }
        a.extend(args!["STREAMS", self.key, id.to_string()]);
        let reply = self.client.backend.call_read(a, block.is_some()).await?;
        let mut streams = parse::streams(&reply)?;
        match streams.pop() {
            Some((_, raw)) => self.decode_all(raw),
            None => Ok(Vec::new()),
        }
    }

    /// Number of entries.
    pub async fn len(&self) -> Result<u64> {
        let reply = self.client.backend.call(args!["XLEN", self.key]).await?;
        Ok(parse::integer(&reply)? as u64)
    }

    /// Whether the stream has no entries (or does not exist).
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// Deletes entries by ID; returns how many existed.
    pub async fn delete(&self, ids: &[StreamId]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut a = args!["XDEL", self.key];
        a.extend(id_args(ids));
        let reply = self.client.backend.call(a).await?;
        Ok(parse::integer(&reply)? as u64)
    }

    /// Deletes entries by ID under a reference policy (XDELEX, Redis 8.2 and rill-server):
    /// one outcome per ID, in order.
    pub async fn delete_with(
        &self,
        ids: &[StreamId],
        policy: RefPolicy,
    ) -> Result<Vec<DeleteOutcome>> {
        self.delete_ids(args!["XDELEX", self.key], ids, policy)
            .await
    }

    /// Acknowledges entries in `group` and deletes them in one step (XACKDEL, Redis 8.2 and
    /// rill-server): a work queue whose entries go once processed. One outcome per ID.
    pub async fn ack_and_delete(
        &self,
        group: &str,
        ids: &[StreamId],
        policy: RefPolicy,
    ) -> Result<Vec<DeleteOutcome>> {
        self.delete_ids(args!["XACKDEL", self.key, group], ids, policy)
            .await
    }

    /// XDELEX or XACKDEL (`head`: the command up to its key or group) with `policy` and an
    /// `IDS n id...` block: one outcome per ID.
    async fn delete_ids(
        &self,
        head: Vec<Bytes>,
        ids: &[StreamId],
        policy: RefPolicy,
    ) -> Result<Vec<DeleteOutcome>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let reply = self
            .client
            .backend
            .call(with_ids_block(head, ids, policy))
            .await?;
        parse::delete_outcomes(&reply)
    }

    /// Trims the stream under a reference policy (Redis 8.2 and rill-server): with
    /// [`RefPolicy::Acked`], entries some group still needs stay.
    pub async fn trim_with(&self, trim: Trim, policy: RefPolicy) -> Result<u64> {
        let mut a = args!["XTRIM", self.key];
        a.extend(trim.args().into_iter().map(Bytes::from));
        a.push(Bytes::from_static(policy.name().as_bytes()));
        let reply = self.client.backend.call(a).await?;
        Ok(parse::integer(&reply)? as u64)
    }

    /// Trims the stream; returns how many entries went.
    pub async fn trim(&self, trim: Trim) -> Result<u64> {
        let mut a = args!["XTRIM", self.key];
        a.extend(trim.args().into_iter().map(Bytes::from));
        let reply = self.client.backend.call(a).await?;
        Ok(parse::integer(&reply)? as u64)
    }

    /// Creates a consumer group (and the stream, if `mkstream`). Fails with BUSYGROUP if it
    /// exists; see [`Stream::ensure_group`].
    pub async fn create_group(&self, group: &str, start: GroupStart, mkstream: bool) -> Result<()> {
        let mut a = args!["XGROUP", "CREATE", self.key, group, start.arg()];
        if mkstream {
            a.push(Bytes::from_static(b"MKSTREAM"));
        }
        self.client.backend.call(a).await.map(|_| ())
    }

    /// Creates the group and the stream unless the group exists: safe to call at every start.
    pub async fn ensure_group(&self, group: &str, start: GroupStart) -> Result<()> {
        match self.create_group(group, start, true).await {
            Err(e) if e.is_busy_group() => Ok(()),
            other => other,
        }
    }

    /// Deletes a consumer group; returns whether it existed.
    pub async fn destroy_group(&self, group: &str) -> Result<bool> {
        let reply = self
            .client
            .backend
            .call(args!["XGROUP", "DESTROY", self.key, group])
            .await?;
        Ok(parse::integer(&reply)? == 1)
    }

    /// Moves a group's last-delivered ID.
    pub async fn set_group_id(&self, group: &str, start: GroupStart) -> Result<()> {
        self.client
            .backend
            .call(args!["XGROUP", "SETID", self.key, group, start.arg()])
            .await
            .map(|_| ())
    }

    /// `XREADGROUP GROUP group consumer COUNT n [BLOCK ms] [CLAIM min-idle] STREAMS key >`:
    /// new entries, after (with `claim_ms`) the pending ones idle that long, claimed first.
    pub(crate) fn group_read_request(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
        claim: Option<Duration>,
    ) -> Vec<Bytes> {
        let mut a = group_read_args(group, consumer, count, block);
        if let Some(min_idle) = claim {
            a.extend(args!["CLAIM", idle_ms(min_idle)]);
        }
        a.extend(args!["STREAMS", self.key, ">"]);
        a
    }

    /// XACK of `ids` in `group`, or XACKDEL with `delete` (the command, not sent).
    pub(crate) fn ack_request(
        &self,
        group: &str,
        ids: &[StreamId],
        delete: Option<RefPolicy>,
    ) -> Command {
        let group = Bytes::copy_from_slice(group.as_bytes());
        match delete {
            Some(policy) => {
                let head = vec![Bytes::from_static(b"XACKDEL"), self.key.clone(), group];
                Command::Text(with_ids_block(head, ids, policy))
            }
            None => Command::Ack {
                key: self.key.clone(),
                group,
                ids: ids.to_vec(),
            },
        }
    }

    /// Raw `>` read for a consumer.
    async fn read_group_raw(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<RawEntry>> {
        let a = self.group_read_request(group, consumer, count, block, None);
        let reply = self.client.backend.call_read(a, block.is_some()).await?;
        parse::group_entries(&reply)
    }

    /// New entries for `consumer` of `group` (XREADGROUP `>`): they join its pending list
    /// until acknowledged. With `block`, waits that long for the first entry.
    pub async fn read_group(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Batch<Entry<T>>> {
        let raw = self.read_group_raw(group, consumer, count, block).await?;
        Ok(self.decode_batch(raw, Some(1)))
    }

    /// New entries for `consumer`, after the group's pending entries of any consumer idle at
    /// least `min_idle`, which are claimed for it first (XREADGROUP ... CLAIM, Redis 8.4 and
    /// rill-server): one call both reclaims what a crashed worker left and reads new work.
    /// Each delivery says how idle it was and how often it had been delivered before.
    pub async fn read_group_claiming(
        &self,
        group: &str,
        consumer: &str,
        count: usize,
        min_idle: Duration,
        block: Option<Duration>,
    ) -> Result<Batch<Delivery<T>>> {
        let a = self.group_read_request(group, consumer, count, block, Some(min_idle));
        let reply = self.client.backend.call_read(a, block.is_some()).await?;
        Ok(parse::claimed_streams(&reply)?
            .into_iter()
            .map(|(raw, idle, previous)| {
                let entry = self.decode_delivered(raw, Some(previous + 1))?;
                Ok(Delivery {
                    entry,
                    idle: (previous > 0 || idle > 0).then(|| Duration::from_millis(idle)),
                    previous_deliveries: previous,
                })
            })
            .collect())
    }

    /// Re-reads the consumer's own pending entries after `after` (XREADGROUP with an ID), e.g.
    /// to recover after a restart. Deleted entries come back with `None`. As in Redis, each
    /// entry read this way counts one more delivery.
    pub async fn read_own_pending(
        &self,
        group: &str,
        consumer: &str,
        after: StreamId,
        count: usize,
    ) -> Result<Vec<PendingRead<T>>> {
        let a = args![
            "XREADGROUP",
            "GROUP",
            group,
            consumer,
            "COUNT",
            count.to_string(),
            "STREAMS",
            self.key,
            after.to_string()
        ];
        let reply = self.client.backend.call(a).await?;
        let mut out = Vec::new();
        for (_, entries) in parse::streams(&reply)? {
            for raw in entries {
                let value = match &raw.fields {
                    Some(f) => Some(self.codec.decode(f).map_err(|e| with_id(e, raw.id))?),
                    None => None,
                };
                out.push(PendingRead { id: raw.id, value });
            }
        }
        Ok(out)
    }

    /// Acknowledges entries; returns how many were pending.
    pub async fn ack(&self, group: &str, ids: &[StreamId]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let a = self.ack_request(group, ids, None);
        let reply = self.client.backend.call(a).await?;
        Ok(parse::integer(&reply)? as u64)
    }

    /// The group's pending summary (XPENDING key group).
    pub async fn pending(&self, group: &str) -> Result<PendingSummary> {
        let reply = self
            .client
            .backend
            .call(args!["XPENDING", self.key, group])
            .await?;
        let parts = parse::array(&reply)?;
        let [count, first, last, owners] = parts else {
            return Err(Error::unexpected("XPENDING summary", &reply));
        };
        let opt_id = |r: &Reply| {
            if parse::is_nil(r) {
                Ok(None)
            } else {
                parse::id(r).map(Some)
            }
        };
        let mut consumers = Vec::new();
        if !parse::is_nil(owners) {
            for pair in parse::array(owners)? {
                if let [name, n] = parse::array(pair)? {
                    consumers.push((parse::text(name)?, parse::integer(n)? as u64));
                }
            }
        }
        Ok(PendingSummary {
            count: parse::integer(count)? as u64,
            first_id: opt_id(first)?,
            last_id: opt_id(last)?,
            consumers,
        })
    }

    /// Pending entries in detail (XPENDING extended form).
    pub async fn pending_entries(
        &self,
        group: &str,
        query: &PendingQuery,
    ) -> Result<Vec<PendingEntry>> {
        let mut a = args!["XPENDING", self.key, group];
        if let Some(idle) = query.min_idle {
            a.extend(args!["IDLE", idle_ms(idle)]);
        }
        a.extend(args![
            query.range.start.arg(true),
            query.range.end.arg(false),
            query.count.to_string()
        ]);
        if let Some(c) = &query.consumer {
            a.push(Bytes::from(c.clone()));
        }
        let reply = self.client.backend.call(a).await?;
        if let Reply::Pending(rows) = &reply {
            // The embedded engine's flat rows: no text to parse.
            return rows
                .iter()
                .map(|row| {
                    Ok(PendingEntry {
                        id: row.id,
                        consumer: String::from_utf8(row.consumer.to_vec())
                            .map_err(|_| Error::unexpected("XPENDING consumer", &reply))?,
                        idle: Duration::from_millis(row.idle.max(0) as u64),
                        deliveries: row.count as u64,
                    })
                })
                .collect();
        }
        parse::array(&reply)?
            .iter()
            .map(|row| match parse::array(row)? {
                [id, consumer, idle, n] => Ok(PendingEntry {
                    id: parse::id(id)?,
                    consumer: parse::text(consumer)?,
                    idle: Duration::from_millis(parse::integer(idle)?.max(0) as u64),
                    deliveries: parse::integer(n)? as u64,
                }),
                _ => Err(Error::unexpected("XPENDING row", row)),
            })
            .collect()
    }

    /// Takes entries idle at least `min_idle` over to `consumer` (XCLAIM); their delivery
    /// counts go up. Entries deleted from the stream are dropped from the PEL, not returned.
    pub async fn claim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        ids: &[StreamId],
    ) -> Result<Batch<Entry<T>>> {
        let mut a = args!["XCLAIM", self.key, group, consumer, idle_ms(min_idle)];
        a.extend(id_args(ids));
        let reply = self.client.backend.call(a).await?;
        Ok(self.decode_batch(parse::entries(&reply)?, None))
    }

    /// Scans the PEL from `start` and claims up to `count` entries idle at least `min_idle`
    /// (XAUTOCLAIM). Call again from `next` until it is `0-0`.
    pub async fn autoclaim(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        start: StreamId,
        count: usize,
    ) -> Result<AutoClaimed<T>> {
        let raw = self
            .autoclaim_raw(group, consumer, min_idle, start, count)
            .await?;
        Ok(AutoClaimed {
            next: raw.next,
            claimed: self.decode_batch(raw.claimed, None),
            deleted: raw.deleted,
        })
    }

    pub(crate) async fn autoclaim_raw(
        &self,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        start: StreamId,
        count: usize,
    ) -> Result<RawAutoClaimed> {
        let a = args![
            "XAUTOCLAIM",
            self.key,
            group,
            consumer,
            idle_ms(min_idle),
            start.to_string(),
            "COUNT",
            count.max(1).to_string()
        ];
        let reply = self.client.backend.call(a).await?;
        let parts = parse::array(&reply)?;
        let [next, claimed, rest @ ..] = parts else {
            return Err(Error::unexpected("XAUTOCLAIM", &reply));
        };
        let deleted = match rest.first() {
            Some(d) => parse::array(d)?
                .iter()
                .map(parse::id)
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        Ok(RawAutoClaimed {
            next: parse::id(next)?,
            claimed: parse::entries(claimed)?,
            deleted,
        })
    }

    /// XINFO STREAM.
    pub async fn info(&self) -> Result<StreamInfo> {
        let reply = self
            .client
            .backend
            .call(args!["XINFO", "STREAM", self.key])
            .await?;
        let p = parse::pairs(&reply)?;
        let entry_id = |name: &str| -> Result<Option<StreamId>> {
            let r = parse::field(&p, name)?;
            if parse::is_nil(r) {
                Ok(None)
            } else {
                parse::entry(r).map(|e| Some(e.id))
            }
        };
        Ok(StreamInfo {
            length: parse::integer(parse::field(&p, "length")?)? as u64,
            last_generated_id: parse::id(parse::field(&p, "last-generated-id")?)?,
            max_deleted_entry_id: parse::id(parse::field(&p, "max-deleted-entry-id")?)?,
            entries_added: parse::integer(parse::field(&p, "entries-added")?)? as u64,
            recorded_first_entry_id: parse::id(parse::field(&p, "recorded-first-entry-id")?)?,
            groups: parse::integer(parse::field(&p, "groups")?)? as u64,
            first_entry_id: entry_id("first-entry")?,
            last_entry_id: entry_id("last-entry")?,
        })
    }

    /// XINFO GROUPS.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>> {
        let reply = self
            .client
            .backend
            .call(args!["XINFO", "GROUPS", self.key])
            .await?;
        parse::array(&reply)?
            .iter()
            .map(|g| {
                let p = parse::pairs(g)?;
                Ok(GroupInfo {
                    name: parse::text(parse::field(&p, "name")?)?,
                    consumers: parse::integer(parse::field(&p, "consumers")?)? as u64,
                    pending: parse::integer(parse::field(&p, "pending")?)? as u64,
                    last_delivered_id: parse::id(parse::field(&p, "last-delivered-id")?)?,
                    entries_read: parse::opt_integer(parse::field(&p, "entries-read")?)?
                        .map(|n| n as u64),
                    lag: parse::opt_integer(parse::field(&p, "lag")?)?,
                })
            })
            .collect()
    }

    /// XINFO CONSUMERS.
    pub async fn consumers(&self, group: &str) -> Result<Vec<ConsumerInfo>> {
        let reply = self
            .client
            .backend
            .call(args!["XINFO", "CONSUMERS", self.key, group])
            .await?;
        parse::array(&reply)?
            .iter()
            .map(|c| {
                let p = parse::pairs(c)?;
                let inactive = match parse::field(&p, "inactive") {
                    Ok(r) => parse::opt_integer(r)?
                        .filter(|n| *n >= 0)
                        .map(|n| Duration::from_millis(n as u64)),
                    Err(_) => None,
                };
                Ok(ConsumerInfo {
                    name: parse::text(parse::field(&p, "name")?)?,
                    pending: parse::integer(parse::field(&p, "pending")?)? as u64,
                    idle: Duration::from_millis(
                        parse::integer(parse::field(&p, "idle")?)?.max(0) as u64
                    ),
                    inactive,
                })
            })
            .collect()
    }

    /// Deletes a consumer and its pending entries; returns how many were pending.
    pub async fn delete_consumer(&self, group: &str, consumer: &str) -> Result<u64> {
        let reply = self
            .client
            .backend
            .call(args!["XGROUP", "DELCONSUMER", self.key, group, consumer])
            .await?;
        Ok(parse::integer(&reply)? as u64)
    }
}

/// `head` followed by `policy IDS n id...`, the tail XDELEX and XACKDEL share.
fn with_ids_block(mut head: Vec<Bytes>, ids: &[StreamId], policy: RefPolicy) -> Vec<Bytes> {
    head.extend(args![policy.name(), "IDS", ids.len().to_string()]);
    head.extend(id_args(ids));
    head
}

/// IDs as arguments (see [`StreamId::texts`]).
pub(crate) fn id_args(ids: &[StreamId]) -> impl Iterator<Item = Bytes> {
    StreamId::texts(ids)
}

/// A BLOCK argument: whole milliseconds, rounded up so that a short wait never becomes
/// `BLOCK 0` (which waits forever); `Duration::ZERO` does mean forever.
pub(crate) fn block_ms(d: Duration) -> u128 {
    d.as_nanos().div_ceil(1_000_000)
}

/// An idle-time argument (CLAIM, XAUTOCLAIM's and XCLAIM's min-idle-time, XPENDING IDLE) in
/// milliseconds, at most `i64::MAX`: Redis refuses larger ones (`Invalid min-idle-time`),
/// while a caller may well mean "never" by a huge duration.
pub(crate) fn idle_ms(d: Duration) -> String {
    d.as_millis().min(i64::MAX as u128).to_string()
}

/// XAUTOCLAIM's answer before decoding.
pub(crate) struct RawAutoClaimed {
    pub(crate) next: StreamId,
    pub(crate) claimed: Vec<RawEntry>,
    pub(crate) deleted: Vec<StreamId>,
}

/// Attaches the entry ID to a codec error.
pub(crate) fn with_id(e: Error, id: StreamId) -> Error {
    match e {
        Error::Codec { message, .. } => Error::Codec {
            id: Some(id),
            message,
        },
        other => other,
    }
}

/// `XREADGROUP GROUP group consumer COUNT n [BLOCK ms]`, the start every group read shares.
fn group_read_args(
    group: &str,
    consumer: &str,
    count: usize,
    block: Option<Duration>,
) -> Vec<Bytes> {
    let mut a = args![
        "XREADGROUP",
        "GROUP",
        group,
        consumer,
        "COUNT",
        count.max(1).to_string()
    ];
    if let Some(b) = block {
        a.extend(args!["BLOCK", block_ms(b).to_string()]);
    }
    a
}
