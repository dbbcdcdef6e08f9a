//! Dead letters: writing a given-up entry to the dead-letter stream, and reading it back as a
//! [`DeadLetter`].

use bytes::Bytes;
use rill_engine::StreamId;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::metrics::Metrics;
use super::worker::{arg, is_transient, Delivery, Worker};
use crate::codec::{Codec, Fields};
use crate::error::{Error, Result};
use crate::parse::{self, RawEntry};
use crate::stream::with_id;

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

    /// Decodes the original entry with the stream's codec (fails for the entries that were
    /// dead-lettered because they could not be decoded).
    pub fn decode<T: DeserializeOwned>(&self, codec: Codec) -> Result<T> {
        codec
            .decode(&self.fields)
            .map_err(|e| with_id(e, self.entry_id))
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Worker<T> {
    /// Copies the entry to the dead-letter stream and acknowledges it, in one MULTI/EXEC
    /// where the backend allows (see [`crate::backend::Backend::call_atomic`]). If that fails
    /// on the connection, the entry goes back to the retry queue (and so, past the limit, to
    /// the dead-letter stream again); any other failure leaves it pending and ends the run.
    pub(super) async fn dead_letter(
        &mut self,
        delivery: Delivery,
        error: String,
        fatal: &mut Option<Error>,
    ) {
        let mut args = vec![
            Bytes::from_static(b"XADD"),
            arg(&self.dead_letter_key),
            Bytes::from_static(b"*"),
            Bytes::from_static(b"stream"),
            self.stream.key.clone(),
            Bytes::from_static(b"id"),
            arg(delivery.id),
            Bytes::from_static(b"group"),
            arg(&self.group),
            Bytes::from_static(b"consumer"),
            arg(&self.name),
            Bytes::from_static(b"deliveries"),
            arg(delivery.deliveries),
            Bytes::from_static(b"error"),
            arg(error),
        ];
        for (field, value) in delivery.fields.iter().flatten() {
            let mut name = DEAD_LETTER_FIELD_PREFIX.as_bytes().to_vec();
            name.extend_from_slice(field);
            args.push(Bytes::from(name));
            args.push(value.clone());
        }
        let ack = vec![
            Bytes::from_static(b"XACK"),
            self.stream.key.clone(),
            arg(&self.group),
            arg(delivery.id),
        ];
        let backend = &self.stream.client.backend;
        // The letter and its XACK in one transaction: a crash cannot leave the entry both
        // dead-lettered and pending (to be dead-lettered again). Where the backend cannot
        // (Redis Cluster), the letter first, then the XACK with the others.
        let outcome = match backend.call_atomic(vec![args.clone(), ack]).await {
            Ok(Some(replies)) => replies
                .into_iter()
                .find_map(|r| r.err())
                .map_or(Ok(true), Err),
            Ok(None) => backend.call(args).await.map(|_| false),
            Err(e) => Err(e),
        };
        match outcome {
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
                fatal.get_or_insert(e);
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
        assert_eq!(letter.decode::<u32>(Codec::Json), Ok(7));
        let not_one = RawEntry {
            id: StreamId::new(9, 1),
            fields: Some(vec![field("data", "7")]),
        };
        assert!(DeadLetter::from_raw(&not_one).is_err());
    }
}
