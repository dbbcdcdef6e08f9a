//! Dead letters: writing a given-up entry to the dead-letter stream, and reading it back as a
//! [`DeadLetter`].

use bytes::Bytes;
use rill_engine::StreamId;

use super::metrics::Metrics;
use super::worker::{arg, is_transient, Delivery, Worker};
use crate::batch::Undecodable;
use crate::codec::{Codec, Fields};
use crate::error::{Error, Result};
use crate::parse::{self, RawEntry};
use crate::stream::{with_id, Stream};
use crate::types::{IdRange, PendingQuery};

/// The prefix of the original entry's fields in a dead letter.
pub const DEAD_LETTER_FIELD_PREFIX: &str = "entry.";

/// One entry of a dead-letter stream: where the entry came from, why it was given up, and its
/// original fields.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The dead letter's own ID in the dead-letter stream (its time is when it was written).
    pub id: StreamId,
    /// The key of the stream the entry came from.
    pub stream: String,
    /// The entry's ID in that stream.
    pub entry_id: StreamId,
    /// The consumer group that gave it up.
    pub group: String,
    /// The consumer that gave it up.
    pub consumer: String,
    /// The entry's delivery count when it was given up.
    pub deliveries: u64,
    /// The last error: the handler's, the codec's, or why the delivery count was exceeded.
    pub error: String,
    /// The original entry's fields, as they were stored (prefix removed).
    pub fields: Fields,
}

impl DeadLetter {
    /// Reads a dead letter from a raw dead-letter stream entry.
    pub fn from_raw(raw: &RawEntry) -> Result<DeadLetter> {
        let not_one = |what: String| Error::Codec {
            id: Some(raw.id),
            message: format!("not a dead letter: {what}"),
        };
        let fields = raw
            .fields
            .as_ref()
            .ok_or_else(|| not_one("the entry was deleted".into()))?;
        let text = |name: &str| -> Result<String> {
            let value = fields
                .iter()
                .find(|(f, _)| f.as_ref() == name.as_bytes())
                .map(|(_, v)| v)
                .ok_or_else(|| not_one(format!("no '{name}' field")))?;
            Ok(String::from_utf8_lossy(value).into_owned())
        };
        let entry_id = text("id")?;
        let deliveries = text("deliveries")?;
        let prefix = DEAD_LETTER_FIELD_PREFIX.as_bytes();
        Ok(DeadLetter {
            id: raw.id,
            stream: text("stream")?,
            entry_id: parse::parse_id(&entry_id)
                .ok_or_else(|| not_one(format!("bad id '{entry_id}'")))?,
            group: text("group")?,
            consumer: text("consumer")?,
            deliveries: deliveries
                .parse()
                .map_err(|_| not_one(format!("bad deliveries '{deliveries}'")))?,
            error: text("error")?,
            fields: fields
                .iter()
                .filter(|(f, _)| f.starts_with(prefix))
                .map(|(f, v)| (f.slice(prefix.len()..), v.clone()))
                .collect(),
        })
    }

    /// Decodes the original entry with the stream's codec (`stream.codec()`; fails for the
    /// entries that were dead-lettered because they could not be decoded).
    pub fn decode<T>(&self, codec: &(impl Codec<T> + ?Sized)) -> Result<T> {
        codec
            .decode(&self.fields)
            .map_err(|e| with_id(e, self.entry_id))
    }
}

/// What a dead letter records about the entry it gives up.
pub(crate) struct Letter<'a> {
    pub(crate) group: &'a str,
    pub(crate) consumer: &'a str,
    pub(crate) id: StreamId,
    pub(crate) deliveries: u64,
    pub(crate) error: &'a str,
    pub(crate) fields: &'a [(Bytes, Bytes)],
    /// Acknowledge with XACKDEL under this policy (the consumer's `delete_on_ack`).
    pub(crate) delete: Option<crate::types::RefPolicy>,
}

impl<T: 'static> Stream<T> {
    /// Gives up an entry this stream's `group` could not decode: copies it to the
    /// dead-letter stream (`dead_letter_stream`, or `<this stream>:dead` when `None`) and
    /// acknowledges it, both in one MULTI/EXEC where the backend allows (see the consumer
    /// module's "Dead letters"), as the consumer runtime does with the entries it gives up.
    pub async fn dead_letter(
        &self,
        group: &str,
        consumer: &str,
        bad: &Undecodable,
        dead_letter_stream: Option<&str>,
    ) -> Result<()> {
        let deliveries = match bad.deliveries {
            Some(n) => n,
            None => self.delivery_count(group, bad.id).await?,
        };
        let letter = Letter {
            group,
            consumer,
            id: bad.id,
            deliveries,
            error: &bad.error.to_string(),
            fields: &bad.fields,
            delete: None,
        };
        let key = super::options::dead_letter_key(dead_letter_stream, self.key());
        if !self.write_dead_letter(&key, &letter).await? {
            self.ack(group, &[bad.id]).await?;
        }
        Ok(())
    }

    /// The delivery count of one pending entry (0 when it is not pending).
    async fn delivery_count(&self, group: &str, id: StreamId) -> Result<u64> {
        let query = PendingQuery {
            range: IdRange::between(id, id),
            count: 1,
            consumer: None,
            min_idle: None,
        };
        let rows = self.pending_entries(group, &query).await?;
        Ok(rows.first().map_or(0, |row| row.deliveries))
    }

    /// Writes `letter` to the stream at `key` together with the entry's XACK in one
    /// transaction where the backend runs them so (true), or the letter alone (false: on
    /// Redis Cluster, where the caller acknowledges the entry after).
    pub(crate) async fn write_dead_letter(&self, key: &str, letter: &Letter<'_>) -> Result<bool> {
        let mut args = vec![
            Bytes::from_static(b"XADD"),
            arg(key),
            Bytes::from_static(b"*"),
            Bytes::from_static(b"stream"),
            self.key.clone(),
            Bytes::from_static(b"id"),
            arg(letter.id),
            Bytes::from_static(b"group"),
            arg(letter.group),
            Bytes::from_static(b"consumer"),
            arg(letter.consumer),
            Bytes::from_static(b"deliveries"),
            arg(letter.deliveries),
            Bytes::from_static(b"error"),
            arg(letter.error),
        ];
        for (field, value) in letter.fields {
            let mut name = DEAD_LETTER_FIELD_PREFIX.as_bytes().to_vec();
            name.extend_from_slice(field);
            args.push(Bytes::from(name));
            args.push(value.clone());
        }
        let ack = self.ack_request(letter.group, &[letter.id], letter.delete);
        let backend = &self.client.backend;
        // MULTI/EXEC does not roll back: were the letter refused inside it (a key of another
        // type), the XACK would still run and the entry be lost. So the key is checked first.
        let kind = backend
            .call(vec![Bytes::from_static(b"TYPE"), arg(key)])
            .await?;
        if !matches!(parse::text(&kind).as_deref(), Ok("none" | "stream")) {
            return Err(Error::server(&format!(
                "WRONGTYPE the dead-letter key '{key}' holds a {}, not a stream",
                parse::text(&kind).unwrap_or_default()
            )));
        }
        // The letter and its XACK in one transaction: a crash cannot leave the entry both
        // dead-lettered and pending (to be dead-lettered again).
        match backend.call_atomic(vec![args.clone().into(), ack]).await? {
            Some(replies) => replies
                .into_iter()
                .find_map(|r| r.err())
                .map_or(Ok(true), Err),
            None => backend.call(args).await.map(|_| false),
        }
    }
}

impl<T: Send + 'static> Worker<T> {
    /// Copies the entry to the dead-letter stream and acknowledges it (see
    /// [`Stream::write_dead_letter`]). If that fails on the connection, the entry goes back
    /// to the retry queue (and so, past the limit, to the dead-letter stream again); any
    /// other failure leaves it pending and ends the run.
    pub(super) async fn dead_letter(&mut self, delivery: Delivery, error: String) {
        let letter = Letter {
            group: &self.group,
            consumer: &self.name,
            id: delivery.id,
            deliveries: delivery.deliveries,
            error: &error,
            fields: delivery.fields.as_deref().unwrap_or_default(),
            delete: self.opts.delete_on_ack,
        };
        match self
            .stream
            .write_dead_letter(&self.dead_letter_key, &letter)
            .await
        {
            Ok(acked) => {
                Metrics::add(&self.metrics.inner.dead_lettered, 1);
                if !acked {
                    self.acks.push(delivery.id);
                }
            }
            Err(e) if is_transient(&e) => {
                tracing::warn!(consumer = %self.name, id = %delivery.id, "dead letter: {e}");
                self.schedule_retry(delivery);
            }
            Err(e) => {
                tracing::warn!(consumer = %self.name, id = %delivery.id, "dead letter: {e}");
                self.fatal.get_or_insert(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_round_trips_its_fields() {
        let field = |f: &str, v: &str| (Bytes::from(f.to_string()), Bytes::from(v.to_string()));
        let raw = RawEntry {
            id: StreamId::new(9, 0),
            fields: Some(vec![
                field("stream", "orders"),
                field("id", "5-1"),
                field("group", "billing"),
                field("consumer", "w-1"),
                field("deliveries", "3"),
                field("error", "boom"),
                field("entry.data", "7"),
            ]),
        };
        let letter = DeadLetter::from_raw(&raw).expect("a dead letter");
        assert_eq!(letter.entry_id, StreamId::new(5, 1));
        assert_eq!(letter.deliveries, 3);
        assert_eq!(letter.decode::<u32>(&crate::codec::Json), Ok(7));
        let not_one = RawEntry {
            id: StreamId::new(9, 1),
            fields: Some(vec![field("data", "7")]),
        };
        assert!(DeadLetter::from_raw(&not_one).is_err());
    }
}
