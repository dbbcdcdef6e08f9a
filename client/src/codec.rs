//! How a typed value becomes stream fields and back. JSON in one `data` field is the default;
//! MessagePack is denser; flat fields put each struct field in its own stream field, so
//! `redis-cli XRANGE` shows readable entries and other languages can read them without a codec.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// The field that JSON and MessagePack entries keep their payload in.
pub const DATA_FIELD: &str = "data";

/// A stream entry's field/value pairs, as stored.
pub type Fields = Vec<(Bytes, Bytes)>;

/// The encoding of a typed stream's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// One field `data` holding the value as JSON.
    #[default]
    Json,
    /// One field `data` holding the value as MessagePack (struct fields by name).
    MessagePack,
    /// One stream field per struct field; strings as they are, other values as JSON text.
    Flat,
}

impl Codec {
    /// Encodes a value into fields.
    pub fn encode<T: Serialize>(self, value: &T) -> Result<Fields> {
        match self {
            Codec::Json => {
                let data = serde_json::to_vec(value).map_err(codec_error)?;
                Ok(vec![(
                    Bytes::from_static(DATA_FIELD.as_bytes()),
                    Bytes::from(data),
                )])
            }
            Codec::MessagePack => {
                let data = rmp_serde::to_vec_named(value).map_err(codec_error)?;
                Ok(vec![(
                    Bytes::from_static(DATA_FIELD.as_bytes()),
                    Bytes::from(data),
                )])
            }
            Codec::Flat => crate::flat::encode(value),
        }
    }

    /// Decodes fields into a value.
    pub fn decode<T: DeserializeOwned>(self, fields: &[(Bytes, Bytes)]) -> Result<T> {
        match self {
            Codec::Json => serde_json::from_slice(data_field(fields)?).map_err(codec_error),
            Codec::MessagePack => rmp_serde::from_slice(data_field(fields)?).map_err(codec_error),
            Codec::Flat => crate::flat::decode(fields),
        }
    }
}

fn data_field(fields: &[(Bytes, Bytes)]) -> Result<&[u8]> {
    fields
        .iter()
        .find(|(f, _)| f.as_ref() == DATA_FIELD.as_bytes())
        .map(|(_, v)| v.as_ref())
        .ok_or_else(|| Error::Codec {
            id: None,
            message: format!("no '{DATA_FIELD}' field in the entry"),
        })
}

pub(crate) fn codec_error(e: impl std::fmt::Display) -> Error {
    Error::Codec {
        id: None,
        message: e.to_string(),
    }
}
