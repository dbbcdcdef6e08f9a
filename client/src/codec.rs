//! How a typed value becomes stream fields and back: the [`Codec`] trait, and the three codecs
//! provided. [`Json`] (the default) keeps the value as JSON in one `data` field;
//! [`MessagePack`] is denser; [`Flat`] puts each struct field in its own stream field, so
//! `redis-cli XRANGE` shows readable entries and other languages read them without a codec.
//! Any other encoding (Protobuf, Avro, a legacy layout) is a type implementing [`Codec`].
//!
//! ```
//! use bytes::Bytes;
//! use rill::codec::{Codec, Fields};
//!
//! /// Temperatures as one `celsius` field in plain text.
//! struct Celsius;
//!
//! impl Codec<f64> for Celsius {
//!     fn encode(&self, value: &f64) -> rill::Result<Fields> {
//!         Ok(vec![(Bytes::from_static(b"celsius"), Bytes::from(value.to_string()))])
//!     }
//!     fn decode(&self, fields: &[(Bytes, Bytes)]) -> rill::Result<f64> {
//!         let (_, text) = fields
//!             .iter()
//!             .find(|(f, _)| f.as_ref() == b"celsius")
//!             .ok_or_else(|| rill::codec::error("no celsius field"))?;
//!         std::str::from_utf8(text)
//!             .ok()
//!             .and_then(|t| t.parse().ok())
//!             .ok_or_else(|| rill::codec::error("celsius is not a number"))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let client = rill::Client::embedded();
//! let temps = client.stream_with_codec("temps", Celsius);
//! temps.add(&21.5).await?;
//! assert_eq!(temps.latest(1).await?[0].value, 21.5);
//! # Ok::<(), rill::Error>(())
//! # }).unwrap();
//! ```

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// The field that JSON and MessagePack entries keep their payload in.
pub const DATA_FIELD: &str = "data";

/// The buffer an encoding starts with: a small event fits, a large one grows it.
const INITIAL_CAPACITY: usize = 128;

/// A stream entry's field/value pairs, as stored.
pub type Fields = Vec<(Bytes, Bytes)>;

/// The encoding of a typed stream's entries: a value of `T` to field/value pairs and back.
/// A stream holds its codec behind an `Arc`, so it is shared by every clone of the stream and
/// by its consumers.
pub trait Codec<T>: Send + Sync + 'static {
    /// Encodes a value into an entry's fields (at least one: Redis refuses an empty XADD).
    fn encode(&self, value: &T) -> Result<Fields>;

    /// Decodes an entry's fields. Fail with [`error`] (an [`Error::Codec`]); the caller adds
    /// the entry's ID.
    fn decode(&self, fields: &[(Bytes, Bytes)]) -> Result<T>;
}

/// One field `data` holding the value as JSON (the default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

/// One field `data` holding the value as MessagePack (struct fields by name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessagePack;

/// One stream field per struct field: strings as they are, numbers and booleans as their
/// text, other values as JSON text (see the `flat` module for the exact rules).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flat;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    fn encode(&self, value: &T) -> Result<Fields> {
        // Room for a typical event up front: growing from empty reallocates three or four
        // times per message.
        let mut data = Vec::with_capacity(INITIAL_CAPACITY);
        serde_json::to_writer(&mut data, value).map_err(error)?;
        Ok(data_entry(data))
    }

    fn decode(&self, fields: &[(Bytes, Bytes)]) -> Result<T> {
        serde_json::from_slice(data_field(fields)?).map_err(error)
    }
}

impl<T: Serialize + DeserializeOwned> Codec<T> for MessagePack {
    fn encode(&self, value: &T) -> Result<Fields> {
        let mut data = Vec::with_capacity(INITIAL_CAPACITY);
        value
            .serialize(&mut rmp_serde::Serializer::new(&mut data).with_struct_map())
            .map_err(error)?;
        Ok(data_entry(data))
    }

    fn decode(&self, fields: &[(Bytes, Bytes)]) -> Result<T> {
        rmp_serde::from_slice(data_field(fields)?).map_err(error)
    }
}

impl<T: Serialize + DeserializeOwned> Codec<T> for Flat {
    fn encode(&self, value: &T) -> Result<Fields> {
        crate::flat::encode(value)
    }

    fn decode(&self, fields: &[(Bytes, Bytes)]) -> Result<T> {
        crate::flat::decode(fields)
    }
}

/// An entry of one `data` field.
fn data_entry(data: Vec<u8>) -> Fields {
    vec![(Bytes::from_static(DATA_FIELD.as_bytes()), Bytes::from(data))]
}

fn data_field(fields: &[(Bytes, Bytes)]) -> Result<&[u8]> {
    fields
        .iter()
        .find(|(f, _)| f.as_ref() == DATA_FIELD.as_bytes())
        .map(|(_, v)| v.as_ref())
        .ok_or_else(|| error(format!("no '{DATA_FIELD}' field in the entry")))
}

/// A codec failure with `message` (an [`Error::Codec`]; the stream adds the entry's ID).
pub fn error(message: impl std::fmt::Display) -> Error {
    Error::Codec {
        id: None,
        message: message.to_string(),
    }
}
