//! The flat codec: one stream field per struct field, readable by `redis-cli` and by any language.
//!
//! A value `Order { id: 7, item: "book", price: 9.5, paid: true, note: None, tags: ["gift"] }`
//! is stored as the entry
//!
//! ```text
//! id 7  item book  price 9.5  paid true  tags ["gift"]
//! ```
//!
//! - The top level is a struct or a map whose keys are strings (or numbers); its fields keep the
//!   order they were serialized in.
//! - Strings and bytes are stored as they are: no quotes, no escaping.
//! - Integers, floats and booleans are stored as their plain text (`42`, `1.5`, `true`).
//! - `None` and unit values leave the field out of the entry.
//! - A unit enum variant is stored as its name (`Shipped`).
//! - Everything else (nested structs, maps, sequences, tuples, variants carrying data) is stored
//!   as compact JSON text.
//!
//! Decoding is driven by the target type, not by the text: a `String` field holding `123` or
//! `{"a":1}` comes back as that string, while an `i64` field holding `123` is parsed as a number.
//! So what was written round-trips, and an entry written by hand in another language decodes as
//! long as each field's text reads as the type it lands in.

use std::fmt;
use std::num::{IntErrorKind, ParseIntError};
use std::str::FromStr;

use bytes::Bytes;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, Visitor};
use serde::ser::{Impossible, SerializeMap, SerializeStruct};
use serde::{Deserializer, Serialize, Serializer};
use serde_json::de::SliceRead;

use crate::codec::{error as codec_error, Fields};
use crate::error::Result;

/// How much of a field's text an error message quotes.
const QUOTED_CHARS: usize = 64;

/// Encodes a struct or a string-keyed map into one stream field per field.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Fields> {
    match value.serialize(FlatSerializer { top: true }) {
        Ok(Flat::Fields(fields)) if !fields.is_empty() => Ok(fields),
        // IMPORTANT: Redis refuses an XADD without fields, and would say so less clearly. (Only
        // structs and maps serialize at the top level, so this is one whose fields all left.)
        Ok(_) => Err(codec_error(
            "nothing to store: every field is None or unit, and a stream entry needs at least one field",
        )),
        Err(e) => Err(codec_error(e)),
    }
}

/// Decodes an entry's fields into a struct or a map, parsing each field's text as the type the
/// target asks for.
///
/// Targets that buffer fields before knowing their types (`#[serde(flatten)]`, internally
/// tagged enums) ask for "anything": the first attempt hands them text, which suits string
/// fields; if that fails, a second attempt hands them what the text reads as (numbers,
/// booleans, JSON), which suits the others. A value that needs both at once (a flattened
/// `String` holding `42` beside a flattened `u32`) fails with the first attempt's error.
pub(crate) fn decode<T: DeserializeOwned>(fields: &[(Bytes, Bytes)]) -> Result<T> {
    let entry = |guess| {
        let fields = fields.iter();
        FlatDeserializer::Entry(EntryAccess {
            fields,
            value: None,
            guess,
        })
    };
    T::deserialize(entry(false))
        .or_else(|as_text| T::deserialize(entry(true)).map_err(|_| as_text))
        .map_err(codec_error)
}

/// What went wrong while encoding or decoding a flat entry; becomes [`crate::error::Error::Codec`].
#[derive(Debug)]
enum FlatError {
    /// Not a failure: a field's value is a sequence, a map, a struct or a variant with data,
    /// which is stored as JSON rather than as plain text.
    Compound,
    Message(String),
}

type FlatResult<T> = std::result::Result<T, FlatError>;

impl FlatError {
    fn new(message: impl fmt::Display) -> FlatError {
        FlatError::Message(message.to_string())
    }

    /// Says which field the problem is in, since an entry has many.
    fn in_field(self, name: &[u8]) -> FlatError {
        FlatError::new(format_args!(
            "field '{}': {self}",
            String::from_utf8_lossy(name)
        ))
    }

    /// The error for a value whose text does not read as the type asked for.
    fn mismatch(expected: &str, text: &[u8]) -> FlatError {
        FlatError::new(format_args!("expected {expected}, got {}", quoted(text)))
    }
}

impl fmt::Display for FlatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlatError::Compound => f.write_str("a compound value"),
            FlatError::Message(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FlatError {}

impl serde::ser::Error for FlatError {
    fn custom<M: fmt::Display>(message: M) -> FlatError {
        FlatError::new(message)
    }
}

impl serde::de::Error for FlatError {
    fn custom<M: fmt::Display>(message: M) -> FlatError {
        FlatError::new(message)
    }
}

/// A field's text as an error message shows it: quoted, escaped, and cut if long.
fn quoted(text: &[u8]) -> String {
    let lossy = String::from_utf8_lossy(text);
    if lossy.chars().count() <= QUOTED_CHARS {
        format!("{lossy:?}")
    } else {
        let cut: String = lossy.chars().take(QUOTED_CHARS).collect();
        format!("{cut:?}...")
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Serializes a value as a whole entry (`top`) or as one field's text. The two differ only in
/// what they accept: an entry must be a struct or a map, since only those have fields to spread
/// over it, while a field takes scalars as text and answers [`FlatError::Compound`] to the rest.
#[derive(Clone, Copy)]
struct FlatSerializer {
    top: bool,
}

/// What a value serializes into.
enum Flat {
    /// A `None` or unit field, left out of the entry.
    Omitted,
    Text(Bytes),
    Fields(Fields),
}

impl FlatSerializer {
    /// What a `kind` of value other than a struct or a map is as a field (`as_field`); at the top
    /// level it is refused, having no fields to spread over the entry.
    fn only_in_a_field<S>(self, kind: &str, as_field: FlatResult<S>) -> FlatResult<S> {
        if self.top {
            return Err(FlatError::new(format_args!(
                "the flat codec stores a struct or a map with string keys, not {kind}"
            )));
        }
        as_field
    }

    /// A struct or a map is the entry at the top level, and JSON in a field.
    fn entry(self, len: usize) -> FlatResult<EntryFields> {
        if !self.top {
            return Err(FlatError::Compound);
        }
        let fields = Vec::with_capacity(len);
        Ok(EntryFields { fields, key: None })
    }
}

/// A number, boolean or character as its plain text.
fn plain(value: impl fmt::Display) -> Flat {
    Flat::Text(Bytes::from(value.to_string()))
}

/// A float as the shortest text that parses back to the same value; `Debug` rather than
/// `Display` so that `1e300` is not written out as 301 digits.
fn float(value: impl fmt::Debug) -> Flat {
    Flat::Text(Bytes::from(format!("{value:?}")))
}

/// Serializes each `$kind` of scalar into its field's text (or `Flat::Omitted`).
macro_rules! scalars {
    ($($method:ident($($arg:ident: $ty:ty),*) $kind:literal => $flat:expr;)*) => {$(
        fn $method(self, $($arg: $ty),*) -> FlatResult<Flat> {
            self.only_in_a_field($kind, Ok($flat))
        }
    )*};
}

/// Serializes each `$kind` of compound value other than a struct or a map: a field stores it
/// as JSON.
macro_rules! compounds {
    ($($method:ident($($ty:ty),*) -> $state:ident $kind:literal;)*) => {$(
        fn $method(self, $(_: $ty),*) -> FlatResult<Self::$state> {
            self.only_in_a_field($kind, Err(FlatError::Compound))
        }
    )*};
}

impl Serializer for FlatSerializer {
    type Ok = Flat;
    type Error = FlatError;
    type SerializeSeq = Impossible<Flat, FlatError>;
    type SerializeTuple = Impossible<Flat, FlatError>;
    type SerializeTupleStruct = Impossible<Flat, FlatError>;
    type SerializeTupleVariant = Impossible<Flat, FlatError>;
    type SerializeMap = EntryFields;
    type SerializeStruct = EntryFields;
    type SerializeStructVariant = Impossible<Flat, FlatError>;

    scalars! {
        serialize_bool(v: bool) "a boolean" => plain(v);
        serialize_i8(v: i8) "an integer" => plain(v);
        serialize_i16(v: i16) "an integer" => plain(v);
        serialize_i32(v: i32) "an integer" => plain(v);
        serialize_i64(v: i64) "an integer" => plain(v);
        serialize_i128(v: i128) "an integer" => plain(v);
        serialize_u8(v: u8) "an integer" => plain(v);
        serialize_u16(v: u16) "an integer" => plain(v);
        serialize_u32(v: u32) "an integer" => plain(v);
        serialize_u64(v: u64) "an integer" => plain(v);
        serialize_u128(v: u128) "an integer" => plain(v);
        serialize_f32(v: f32) "a float" => float(v);
        serialize_f64(v: f64) "a float" => float(v);
        serialize_char(v: char) "a character" => plain(v);
        serialize_str(v: &str) "a string" => Flat::Text(Bytes::copy_from_slice(v.as_bytes()));
        serialize_bytes(v: &[u8]) "bytes" => Flat::Text(Bytes::copy_from_slice(v));
        serialize_none() "None" => Flat::Omitted;
        serialize_unit() "unit" => Flat::Omitted;
        serialize_unit_struct(_name: &'static str) "a unit struct" => Flat::Omitted;
        serialize_unit_variant(_name: &'static str, _index: u32, variant: &'static str) "an enum"
            => Flat::Text(Bytes::from_static(variant.as_bytes()));
    }

    compounds! {
        serialize_seq(Option<usize>) -> SerializeSeq "a sequence";
        serialize_tuple(usize) -> SerializeTuple "a tuple";
        serialize_tuple_struct(&'static str, usize) -> SerializeTupleStruct "a tuple struct";
        serialize_tuple_variant(&'static str, u32, &'static str, usize)
            -> SerializeTupleVariant "an enum";
        serialize_struct_variant(&'static str, u32, &'static str, usize)
            -> SerializeStructVariant "an enum";
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> FlatResult<Flat> {
        self.only_in_a_field("an Option", Ok(()))?;
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> FlatResult<Flat> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> FlatResult<Flat> {
        self.only_in_a_field("an enum", Err(FlatError::Compound))
    }

    fn serialize_map(self, len: Option<usize>) -> FlatResult<EntryFields> {
        self.entry(len.unwrap_or(0))
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> FlatResult<EntryFields> {
        self.entry(len)
    }
}

/// The entry being built from a struct's or a map's fields.
struct EntryFields {
    fields: Fields,
    /// A map key waiting for its value.
    key: Option<Bytes>,
}

impl EntryFields {
    /// Adds one field, or nothing if the value is `None` or unit.
    fn push<T: ?Sized + Serialize>(&mut self, name: Bytes, value: &T) -> FlatResult<()> {
        let text = match value.serialize(FlatSerializer { top: false }) {
            Ok(Flat::Text(text)) => text,
            Ok(_) => return Ok(()),
            Err(FlatError::Compound) => match serde_json::to_vec(value) {
                Ok(json) => Bytes::from(json),
                Err(e) => return Err(FlatError::new(e).in_field(&name)),
            },
            Err(e) => return Err(e.in_field(&name)),
        };
        self.fields.push((name, text));
        Ok(())
    }
}

impl SerializeStruct for EntryFields {
    type Ok = Flat;
    type Error = FlatError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> FlatResult<()> {
        self.push(Bytes::from_static(key.as_bytes()), value)
    }

    fn end(self) -> FlatResult<Flat> {
        Ok(Flat::Fields(self.fields))
    }
}

impl SerializeMap for EntryFields {
    type Ok = Flat;
    type Error = FlatError;

    /// Keys take the same path as scalar values, so numeric keys become their text.
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> FlatResult<()> {
        self.key = Some(match key.serialize(FlatSerializer { top: false }) {
            Ok(Flat::Text(key)) => key,
            Ok(_) => return Err(FlatError::new("a map key cannot be None or unit")),
            Err(FlatError::Compound) => {
                let message = "map keys must be strings or numbers, not sequences, maps or structs";
                return Err(FlatError::new(message));
            }
            Err(e) => return Err(e),
        });
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> FlatResult<()> {
        let key = self.key.take();
        let key = key.ok_or_else(|| FlatError::new("a map value was serialized before its key"))?;
        self.push(key, value)
    }

    fn end(self) -> FlatResult<Flat> {
        Ok(Flat::Fields(self.fields))
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Deserializes a whole entry (its fields handed to the target as a map) or one field's text
/// (parsed as whatever type the target asks for).
enum FlatDeserializer<'de> {
    Entry(EntryAccess<'de>),
    Field(FieldText<'de>),
}

impl<'de> FlatDeserializer<'de> {
    fn field(text: &'de [u8], guess: bool) -> FlatDeserializer<'de> {
        FlatDeserializer::Field(FieldText { text, guess })
    }

    /// The field's text, for a target that is a `kind`: a whole entry is only ever a struct or
    /// a map.
    fn text(self, kind: &str) -> FlatResult<FieldText<'de>> {
        match self {
            FlatDeserializer::Field(text) => Ok(text),
            FlatDeserializer::Entry(_) => Err(FlatError::new(format_args!(
                "the flat codec decodes an entry into a struct or a map, not {kind}"
            ))),
        }
    }
}

/// Answers each request for a `$kind` of value from the field's text (see
/// [`FlatDeserializer::text`]).
macro_rules! from_text {
    ($($method:ident($($arg:ident: $ty:ty),*) $kind:literal
        => |$text:ident, $visitor:ident| $answer:expr;)*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* $visitor: V) -> FlatResult<V::Value> {
            let $text = self.text($kind)?;
            $answer
        }
    )*};
}

impl<'de> Deserializer<'de> for FlatDeserializer<'de> {
    type Error = FlatError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> FlatResult<V::Value> {
        match self {
            Self::Entry(entry) => visitor.visit_map(entry),
            Self::Field(text) => text.any(visitor),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> FlatResult<V::Value> {
        match self {
            Self::Entry(entry) => visitor.visit_map(entry),
            Self::Field(text) => text.json("a map", |json| json.deserialize_map(visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> FlatResult<V::Value> {
        match self {
            Self::Entry(entry) => visitor.visit_map(entry),
            Self::Field(text) => text.json("a struct", |json| {
                json.deserialize_struct(name, fields, visitor)
            }),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> FlatResult<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> FlatResult<V::Value> {
        visitor.visit_unit()
    }

    from_text! {
        deserialize_bool() "a boolean" => |text, visitor| visitor.visit_bool(text.boolean()?);
        deserialize_i8() "an integer" => |text, visitor| visitor.visit_i8(text.integer("i8")?);
        deserialize_i16() "an integer" => |text, visitor| visitor.visit_i16(text.integer("i16")?);
        deserialize_i32() "an integer" => |text, visitor| visitor.visit_i32(text.integer("i32")?);
        deserialize_i64() "an integer" => |text, visitor| visitor.visit_i64(text.integer("i64")?);
        deserialize_i128() "an integer"
            => |text, visitor| visitor.visit_i128(text.integer("i128")?);
        deserialize_u8() "an integer" => |text, visitor| visitor.visit_u8(text.integer("u8")?);
        deserialize_u16() "an integer" => |text, visitor| visitor.visit_u16(text.integer("u16")?);
        deserialize_u32() "an integer" => |text, visitor| visitor.visit_u32(text.integer("u32")?);
        deserialize_u64() "an integer" => |text, visitor| visitor.visit_u64(text.integer("u64")?);
        deserialize_u128() "an integer"
            => |text, visitor| visitor.visit_u128(text.integer("u128")?);
        deserialize_f32() "a float" => |text, visitor| visitor.visit_f32(text.parse("a number")?);
        deserialize_f64() "a float" => |text, visitor| visitor.visit_f64(text.parse("a number")?);
        deserialize_char() "a character"
            => |text, visitor| visitor.visit_char(text.parse("a single character")?);
        deserialize_str() "a string" => |text, visitor| visitor.visit_borrowed_str(text.str()?);
        deserialize_string() "a string"
            => |text, visitor| visitor.visit_borrowed_str(text.str()?);
        deserialize_bytes() "bytes" => |text, visitor| visitor.visit_borrowed_bytes(text.text);
        deserialize_byte_buf() "bytes" => |text, visitor| visitor.visit_borrowed_bytes(text.text);
        // A field that is present holds `Some`; serde makes a missing one `None`.
        deserialize_option() "an Option" => |text, visitor| visitor.visit_some(Self::Field(text));
        deserialize_unit() "unit" => |_text, visitor| visitor.visit_unit();
        deserialize_unit_struct(_name: &'static str) "unit"
            => |_text, visitor| visitor.visit_unit();
        deserialize_identifier() "an identifier" => |text, visitor| text.any(visitor);
        deserialize_seq() "a sequence"
            => |text, visitor| text.json("a sequence", |json| json.deserialize_seq(visitor));
        deserialize_tuple(len: usize) "a sequence"
            => |text, visitor| text.json("a tuple", |json| json.deserialize_tuple(len, visitor));
        deserialize_tuple_struct(name: &'static str, len: usize) "a sequence"
            => |text, visitor| text.json("a tuple", |json| {
                json.deserialize_tuple_struct(name, len, visitor)
            });
        deserialize_enum(name: &'static str, variants: &'static [&'static str]) "an enum"
            => |text, visitor| text.variant(name, variants, visitor);
    }
}

/// Walks an entry's fields as a map: names as keys, texts as values.
struct EntryAccess<'de> {
    fields: std::slice::Iter<'de, (Bytes, Bytes)>,
    /// The field whose name was just handed out and whose value comes next.
    value: Option<&'de (Bytes, Bytes)>,
    /// Whether values asked for as "anything" are read as what their text looks like (see
    /// [`decode`]).
    guess: bool,
}

impl<'de> MapAccess<'de> for EntryAccess<'de> {
    type Error = FlatError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> FlatResult<Option<K::Value>> {
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        self.value = Some(field);
        // Names go through the same text parser as values, so maps with numeric keys work and
        // struct targets see identifiers (and can deny unknown ones).
        seed.deserialize(FlatDeserializer::field(&field.0, false))
            .map(Some)
            .map_err(|e| FlatError::new(format_args!("field name: {e}")))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> FlatResult<V::Value> {
        let Some((name, text)) = self.value.take() else {
            return Err(FlatError::new(
                "a field value was asked for before its name",
            ));
        };
        seed.deserialize(FlatDeserializer::field(text, self.guess))
            .map_err(|e| e.in_field(name))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.fields.len())
    }
}

/// One field's text, and how to read it as each type.
struct FieldText<'de> {
    text: &'de [u8],
    /// Read a target that asks for "anything" as what the text looks like, not as text.
    guess: bool,
}

impl<'de> FieldText<'de> {
    /// The text as UTF-8, or the error saying it is not the `expected` type.
    fn utf8(&self, expected: &str) -> FlatResult<&'de str> {
        std::str::from_utf8(self.text).map_err(|_| FlatError::mismatch(expected, self.text))
    }

    /// Parses an integer, telling "not a number" apart from "too big for the type".
    fn integer<N: FromStr<Err = ParseIntError>>(&self, type_name: &str) -> FlatResult<N> {
        self.utf8("an integer")?
            .parse()
            .map_err(|e: ParseIntError| match e.kind() {
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => {
                    FlatError::mismatch(&format!("an integer that fits in {type_name}"), self.text)
                }
                _ => FlatError::mismatch("an integer", self.text),
            })
    }

    /// Parses the text as `N` (a float, `inf`, `-inf` and `NaN` included since that is how they
    /// are written, or a character), or says it is not the `expected` type.
    fn parse<N: FromStr>(&self, expected: &str) -> FlatResult<N> {
        self.utf8(expected)?
            .parse()
            .map_err(|_| FlatError::mismatch(expected, self.text))
    }

    /// `true` and `false`, and the `1` and `0` other languages write.
    fn boolean(&self) -> FlatResult<bool> {
        match self.text {
            b"true" | b"1" => Ok(true),
            b"false" | b"0" => Ok(false),
            _ => Err(FlatError::mismatch("a boolean (true or false)", self.text)),
        }
    }

    /// The text for a string target, which unlike one asking for "anything" cannot take bytes.
    fn str(&self) -> FlatResult<&'de str> {
        std::str::from_utf8(self.text).map_err(|e| {
            FlatError::new(format_args!(
                "expected UTF-8 text, got bytes that are not ({e})"
            ))
        })
    }

    /// Hands the text to serde_json, for the compound values stored as JSON.
    fn json<T>(
        self,
        expected: &str,
        read: impl FnOnce(&mut serde_json::Deserializer<SliceRead<'de>>) -> serde_json::Result<T>,
    ) -> FlatResult<T> {
        let mut json = serde_json::Deserializer::from_slice(self.text);
        let value = read(&mut json).and_then(|value| json.end().map(|()| value));
        value.map_err(|e| {
            let text = quoted(self.text);
            FlatError::new(format_args!("expected {expected} as JSON, got {text}: {e}"))
        })
    }

    /// A target that does not say what it wants gets the text: the entry does not record types,
    /// and guessing would turn the string `"123"` into a number. Only when that failed (see
    /// [`decode`]) is the text read as the boolean, number or JSON it looks like.
    fn any<V: Visitor<'de>>(self, visitor: V) -> FlatResult<V::Value> {
        let Ok(text) = std::str::from_utf8(self.text) else {
            return visitor.visit_borrowed_bytes(self.text);
        };
        if !self.guess {
            return visitor.visit_borrowed_str(text);
        }
        if let Ok(b) = text.parse::<bool>() {
            return visitor.visit_bool(b);
        }
        if let Ok(n) = text.parse::<i64>() {
            return visitor.visit_i64(n);
        }
        if let Ok(n) = text.parse::<u64>() {
            return visitor.visit_u64(n);
        }
        if let Ok(x) = text.parse::<f64>() {
            return visitor.visit_f64(x);
        }
        if matches!(
            text.trim_ascii_start().as_bytes().first(),
            Some(b'{' | b'[')
        ) {
            return self.json("JSON", |json| json.deserialize_any(visitor));
        }
        visitor.visit_borrowed_str(text)
    }

    /// A unit variant is stored as its bare name; a variant with data (or a JSON string) as JSON.
    fn variant<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> FlatResult<V::Value> {
        if matches!(self.text.trim_ascii_start().first(), Some(b'{' | b'"')) {
            return self.json("an enum", |json| {
                json.deserialize_enum(name, variants, visitor)
            });
        }
        let variant = self.utf8("an enum variant name")?;
        visitor.visit_enum(BorrowedStrDeserializer::<FlatError>::new(variant))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use bytes::Bytes;
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Serialize};

    use super::{decode, encode};
    use crate::error::Error;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Status {
        Pending,
        #[serde(rename = "in_transit")]
        InTransit,
        Refunded(u64),
        Split(u32, String),
        Cancelled {
            reason: String,
        },
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Address {
        city: String,
        zip: Option<String>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    struct OrderId(u64);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Order {
        id: OrderId,
        item: String,
        qty: i64,
        price: f64,
        paid: bool,
        note: Option<String>,
        tags: Vec<String>,
        status: Status,
        created_ms: u64,
    }

    fn order() -> Order {
        Order {
            id: OrderId(7),
            item: "book".into(),
            qty: 3,
            price: 9.5,
            paid: true,
            note: None,
            tags: vec!["gift".into(), "rush".into()],
            status: Status::Pending,
            created_ms: 1_700_000_000_123,
        }
    }

    /// Fields given as text, the way `redis-cli` or another language would write them.
    fn written(pairs: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
        pairs
            .iter()
            .map(|(f, v)| (Bytes::from(f.to_string()), Bytes::from(v.to_string())))
            .collect()
    }

    /// The entry as text pairs, for asserting what `XRANGE` would show.
    fn shown(fields: &[(Bytes, Bytes)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(f, v)| {
                (
                    String::from_utf8(f.to_vec()).expect("UTF-8"),
                    String::from_utf8(v.to_vec()).expect("UTF-8"),
                )
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect()
    }

    fn round_trip<T: Serialize + DeserializeOwned>(value: &T) -> T {
        let fields = encode(value).expect("encodes");
        decode(&fields).expect("decodes")
    }

    fn codec_message(error: Error) -> String {
        match error {
            Error::Codec { id: None, message } => message,
            other => panic!("expected a codec error, got {other:?}"),
        }
    }

    #[test]
    fn entry_is_one_readable_field_per_struct_field_in_order() {
        let fields = encode(&order()).expect("encodes");
        assert_eq!(
            shown(&fields),
            pairs(&[
                ("id", "7"),
                ("item", "book"),
                ("qty", "3"),
                ("price", "9.5"),
                ("paid", "true"),
                ("tags", r#"["gift","rush"]"#),
                ("status", "Pending"),
                ("created_ms", "1700000000123"),
            ])
        );
        assert_eq!(decode::<Order>(&fields).expect("decodes"), order());
    }

    #[test]
    fn none_fields_are_left_out_and_come_back_as_none() {
        let fields = encode(&order()).expect("encodes");
        assert!(fields.iter().all(|(f, _)| f.as_ref() != b"note"));
        assert_eq!(decode::<Order>(&fields).expect("decodes").note, None);

        let with_note = Order {
            note: Some("leave at door".into()),
            ..order()
        };
        let fields = encode(&with_note).expect("encodes");
        assert!(shown(&fields).contains(&("note".into(), "leave at door".into())));
        assert_eq!(decode::<Order>(&fields).expect("decodes"), with_note);
    }

    #[test]
    fn strings_that_look_like_other_types_stay_strings() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Texts {
            number: String,
            boolean: String,
            object: String,
            array: String,
            quoted: String,
            null: String,
            empty: String,
            unicode: String,
            maybe: Option<String>,
        }
        let texts = Texts {
            number: "123".into(),
            boolean: "true".into(),
            object: r#"{"a":1}"#.into(),
            array: "[1,2]".into(),
            quoted: r#""quoted""#.into(),
            null: "null".into(),
            empty: String::new(),
            unicode: "héllo wörld ✓ 日本 🚀\n\ttab".into(),
            maybe: Some(String::new()),
        };
        let fields = encode(&texts).expect("encodes");
        assert_eq!(shown(&fields)[2], ("object".into(), r#"{"a":1}"#.into()));
        assert_eq!(shown(&fields)[6], ("empty".into(), String::new()));
        assert_eq!(decode::<Texts>(&fields).expect("decodes"), texts);
    }

    #[test]
    fn integer_extremes_round_trip() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Extremes {
            min: i64,
            max: u64,
            small: i8,
            byte: u8,
            wide: i128,
            huge: u128,
        }
        let extremes = Extremes {
            min: i64::MIN,
            max: u64::MAX,
            small: i8::MIN,
            byte: u8::MAX,
            wide: i128::MIN,
            huge: u128::MAX,
        };
        let fields = encode(&extremes).expect("encodes");
        assert_eq!(shown(&fields)[0].1, "-9223372036854775808");
        assert_eq!(shown(&fields)[1].1, "18446744073709551615");
        assert_eq!(decode::<Extremes>(&fields).expect("decodes"), extremes);
    }

    #[test]
    fn floats_round_trip_exactly() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Floats {
            a: f64,
            b: f64,
            c: f64,
            d: f64,
            e: f64,
            f: f32,
        }
        for value in [
            0.0,
            -0.0,
            1.5,
            0.1 + 0.2,
            1e300,
            -2.5e-310,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::EPSILON,
        ] {
            let floats = Floats {
                a: value,
                b: -value,
                c: f64::INFINITY,
                d: f64::NEG_INFINITY,
                e: value / 3.0,
                f: 0.1,
            };
            let back = round_trip(&floats);
            assert_eq!(back.a.to_bits(), value.to_bits());
            assert_eq!(back, floats);
        }
        let fields = encode(&Floats {
            a: 1.5,
            b: 1e300,
            c: 1.0,
            d: 0.0,
            e: 0.1,
            f: 0.1,
        })
        .expect("encodes");
        let texts: Vec<String> = shown(&fields).into_iter().map(|(_, v)| v).collect();
        assert_eq!(texts, ["1.5", "1e300", "1.0", "0.0", "0.1", "0.1"]);

        #[derive(Serialize, Deserialize)]
        struct Nan {
            x: f64,
        }
        assert!(round_trip(&Nan { x: f64::NAN }).x.is_nan());
    }

    #[test]
    fn nested_values_are_compact_json() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Nested {
            address: Address,
            lines: Vec<Address>,
            counts: HashMap<String, u32>,
            sorted: BTreeMap<String, Vec<i64>>,
            pair: (u8, String),
            matrix: Vec<Vec<f64>>,
            empty: Vec<u8>,
            maybe_list: Option<Vec<String>>,
        }
        let nested = Nested {
            address: Address {
                city: "Paris".into(),
                zip: None,
            },
            lines: vec![Address {
                city: "Oslo".into(),
                zip: Some("0150".into()),
            }],
            counts: HashMap::from([("a".into(), 1), ("b".into(), 2)]),
            sorted: BTreeMap::from([("x".into(), vec![1, -2])]),
            pair: (4, "four".into()),
            matrix: vec![vec![1.5, 2.0], vec![]],
            empty: vec![],
            maybe_list: Some(vec![]),
        };
        let fields = encode(&nested).expect("encodes");
        let texts = shown(&fields);
        assert_eq!(texts[0].1, r#"{"city":"Paris","zip":null}"#);
        assert_eq!(texts[3].1, r#"{"x":[1,-2]}"#);
        assert_eq!(texts[4].1, r#"[4,"four"]"#);
        assert_eq!(texts[6].1, "[]");
        assert_eq!(decode::<Nested>(&fields).expect("decodes"), nested);
    }

    #[test]
    fn enums_store_unit_variants_by_name_and_data_variants_as_json() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Shipment {
            status: Status,
            previous: Option<Status>,
        }
        let cases = [
            (Status::Pending, "Pending"),
            (Status::InTransit, "in_transit"),
            (Status::Refunded(5), r#"{"Refunded":5}"#),
            (Status::Split(2, "half".into()), r#"{"Split":[2,"half"]}"#),
            (
                Status::Cancelled {
                    reason: "out of stock".into(),
                },
                r#"{"Cancelled":{"reason":"out of stock"}}"#,
            ),
        ];
        for (status, text) in cases {
            let shipment = Shipment {
                status: status.clone(),
                previous: Some(status),
            };
            let fields = encode(&shipment).expect("encodes");
            assert_eq!(
                shown(&fields),
                pairs(&[("status", text), ("previous", text)])
            );
            assert_eq!(decode::<Shipment>(&fields).expect("decodes"), shipment);
        }
        // A unit variant written as a JSON string by another program reads too.
        let quoted = decode::<Shipment>(&written(&[("status", r#""Pending""#)])).expect("decodes");
        assert_eq!(quoted.status, Status::Pending);
    }

    #[test]
    fn bytes_are_stored_raw() {
        /// What `serde_bytes::ByteBuf` does: serialize as bytes, not as a sequence.
        #[derive(Debug, PartialEq)]
        struct Blob(Vec<u8>);

        impl Serialize for Blob {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for Blob {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Blob, D::Error> {
                struct BlobVisitor;
                impl serde::de::Visitor<'_> for BlobVisitor {
                    type Value = Blob;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_bytes<E>(self, v: &[u8]) -> Result<Blob, E> {
                        Ok(Blob(v.to_vec()))
                    }
                }
                d.deserialize_byte_buf(BlobVisitor)
            }
        }

        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Packet {
            payload: Blob,
            empty: Blob,
        }
        let packet = Packet {
            payload: Blob(vec![0, 159, 146, 150, 255, b'{']),
            empty: Blob(vec![]),
        };
        let fields = encode(&packet).expect("encodes");
        assert_eq!(fields[0].1.as_ref(), &[0, 159, 146, 150, 255, b'{']);
        assert_eq!(fields[1].1.as_ref(), b"");
        assert_eq!(decode::<Packet>(&fields).expect("decodes"), packet);
    }

    #[test]
    fn maps_with_string_or_number_keys_are_entries_too() {
        let labels: BTreeMap<String, String> =
            BTreeMap::from([("env".into(), "prod".into()), ("count".into(), "12".into())]);
        let fields = encode(&labels).expect("encodes");
        assert_eq!(shown(&fields), pairs(&[("count", "12"), ("env", "prod")]));
        assert_eq!(
            decode::<BTreeMap<String, String>>(&fields).expect("decodes"),
            labels
        );

        let numbers: HashMap<u32, f64> = HashMap::from([(1, 0.5), (20, -3.0)]);
        assert_eq!(round_trip(&numbers), numbers);

        // Any-typed values see the text, so a map of JSON values keeps strings as strings.
        let any =
            decode::<HashMap<String, serde_json::Value>>(&written(&[("n", "12"), ("s", "x")]))
                .expect("decodes");
        assert_eq!(any["n"], serde_json::Value::String("12".into()));
        assert_eq!(any["s"], serde_json::Value::String("x".into()));
    }

    #[test]
    fn flattened_fields_are_spread_over_the_entry() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Tagged {
            name: String,
            #[serde(flatten)]
            labels: BTreeMap<String, String>,
        }
        let tagged = Tagged {
            name: "job".into(),
            labels: BTreeMap::from([("region".into(), "eu".into()), ("tier".into(), "2".into())]),
        };
        let fields = encode(&tagged).expect("encodes");
        assert_eq!(
            shown(&fields),
            pairs(&[("name", "job"), ("region", "eu"), ("tier", "2")])
        );
        assert_eq!(decode::<Tagged>(&fields).expect("decodes"), tagged);
    }

    #[test]
    fn flattened_structs_keep_their_numbers_booleans_and_nested_values() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Attempt {
            retries: u32,
            ratio: f64,
            urgent: bool,
            owner: String,
            tags: Vec<String>,
            at: Address,
        }
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Job {
            name: String,
            #[serde(flatten)]
            attempt: Attempt,
        }
        let job = Job {
            name: "resize".into(),
            attempt: Attempt {
                retries: 3,
                ratio: 0.25,
                urgent: true,
                owner: "ops".into(),
                tags: vec!["a".into()],
                at: Address {
                    city: "Oslo".into(),
                    zip: None,
                },
            },
        };
        let fields = encode(&job).expect("encodes");
        assert_eq!(
            shown(&fields)[..4],
            pairs(&[
                ("name", "resize"),
                ("retries", "3"),
                ("ratio", "0.25"),
                ("urgent", "true")
            ])
        );
        assert_eq!(decode::<Job>(&fields).expect("decodes"), job);
    }

    #[test]
    fn internally_tagged_enums_with_numeric_fields_round_trip() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        enum Event {
            Click { x: u32, y: i64, double: bool },
            Scroll { by: f64 },
            Key { code: String },
        }
        for event in [
            Event::Click {
                x: 10,
                y: -4,
                double: false,
            },
            Event::Scroll { by: -1.5 },
            Event::Key { code: "Esc".into() },
        ] {
            let fields = encode(&event).expect("encodes");
            assert_eq!(shown(&fields)[0].0, "kind");
            assert_eq!(decode::<Event>(&fields).expect("decodes"), event);
        }
        // Written by hand, as another language would.
        let click = written(&[
            ("kind", "Click"),
            ("x", "1"),
            ("y", "2"),
            ("double", "true"),
        ]);
        assert_eq!(
            decode::<Event>(&click).expect("decodes"),
            Event::Click {
                x: 1,
                y: 2,
                double: true
            }
        );
        // A text field that looks like a number still reads as text (the first attempt).
        let key = written(&[("kind", "Key"), ("code", "42")]);
        assert_eq!(
            decode::<Event>(&key).expect("decodes"),
            Event::Key { code: "42".into() }
        );
        // A number field holding text fails, naming what it wanted.
        let bad = written(&[("kind", "Scroll"), ("by", "far")]);
        let message = codec_message(decode::<Event>(&bad).expect_err("not a number"));
        assert!(message.contains("far"), "{message}");
    }

    #[test]
    fn entry_written_by_another_language_decodes() {
        // XADD orders * id 17 item "Book" qty 2 price 12 paid 1 tags '["a","b"]'
        //   status Refunded... as a Python script would write it, plus a field we do not model.
        let entry = written(&[
            ("id", "17"),
            ("item", "Book"),
            ("qty", "2"),
            ("price", "12"),
            ("paid", "1"),
            ("tags", r#"[ "a", "b" ]"#),
            ("status", r#"{"Cancelled": {"reason": "late"}}"#),
            ("created_ms", "1700000000000"),
            ("trace_id", "abc-123"),
        ]);
        let order = decode::<Order>(&entry).expect("decodes");
        assert_eq!(
            order,
            Order {
                id: OrderId(17),
                item: "Book".into(),
                qty: 2,
                price: 12.0,
                paid: true,
                note: None,
                tags: vec!["a".into(), "b".into()],
                status: Status::Cancelled {
                    reason: "late".into()
                },
                created_ms: 1_700_000_000_000,
            }
        );
        // Field order does not matter when reading.
        let mut reversed = entry.clone();
        reversed.reverse();
        assert_eq!(decode::<Order>(&reversed).expect("decodes"), order);
    }

    #[test]
    fn missing_fields_use_defaults_or_fail() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Settings {
            name: String,
            #[serde(default)]
            retries: u32,
            #[serde(default = "default_mode")]
            mode: String,
            timeout: Option<u64>,
            char_flag: Option<char>,
            unit: Option<()>,
        }
        fn default_mode() -> String {
            "fast".into()
        }
        let settings = decode::<Settings>(&written(&[("name", "a")])).expect("decodes");
        assert_eq!(
            settings,
            Settings {
                name: "a".into(),
                retries: 0,
                mode: "fast".into(),
                timeout: None,
                char_flag: None,
                unit: None,
            }
        );
        let settings = decode::<Settings>(&written(&[
            ("name", "a"),
            ("char_flag", "é"),
            ("timeout", "30"),
        ]))
        .expect("decodes");
        assert_eq!(settings.char_flag, Some('é'));
        assert_eq!(settings.timeout, Some(30));

        let error = decode::<Settings>(&written(&[("retries", "1")])).expect_err("fails");
        assert_eq!(codec_message(error), "missing field `name`");
    }

    #[test]
    fn unknown_fields_are_ignored_unless_denied() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Loose {
            a: u8,
        }
        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Strict {
            a: u8,
        }
        let entry = written(&[("a", "1"), ("b", "{not json")]);
        assert_eq!(decode::<Loose>(&entry).expect("decodes"), Loose { a: 1 });
        let message = codec_message(decode::<Strict>(&entry).expect_err("fails"));
        assert!(message.contains("unknown field `b`"), "{message}");
    }

    #[test]
    fn values_that_do_not_read_as_the_type_name_the_field() {
        let mut entry = written(&[
            ("id", "7"),
            ("item", "book"),
            ("qty", "abc"),
            ("price", "1"),
            ("paid", "true"),
            ("tags", "[]"),
            ("status", "Pending"),
            ("created_ms", "1"),
        ]);
        let error = decode::<Order>(&entry).expect_err("fails");
        assert_eq!(
            error,
            Error::Codec {
                id: None,
                message: r#"field 'qty': expected an integer, got "abc""#.into()
            }
        );
        assert_eq!(
            error.to_string(),
            r#"codec error: field 'qty': expected an integer, got "abc""#
        );
        entry[2].1 = Bytes::from_static(b"3");
        assert!(decode::<Order>(&entry).is_ok());

        let cases = [
            ("qty", "1.5", r#"field 'qty': expected an integer, got "1.5""#),
            ("qty", "", r#"field 'qty': expected an integer, got """#),
            (
                "created_ms",
                "-1",
                r#"field 'created_ms': expected an integer, got "-1""#,
            ),
            (
                "qty",
                "99999999999999999999",
                r#"field 'qty': expected an integer that fits in i64, got "99999999999999999999""#,
            ),
            ("price", "cheap", r#"field 'price': expected a number, got "cheap""#),
            (
                "paid",
                "yes",
                r#"field 'paid': expected a boolean (true or false), got "yes""#,
            ),
            (
                "status",
                "Lost",
                "field 'status': unknown variant `Lost`, expected one of `Pending`, `in_transit`, `Refunded`, `Split`, `Cancelled`",
            ),
            (
                "status",
                "Refunded",
                "field 'status': invalid type: unit variant, expected newtype variant",
            ),
        ];
        for (name, text, expected) in cases {
            let mut bad = entry.clone();
            for (field, value) in &mut bad {
                if field.as_ref() == name.as_bytes() {
                    *value = Bytes::from(text.to_string());
                }
            }
            assert_eq!(
                codec_message(decode::<Order>(&bad).expect_err("fails")),
                expected
            );
        }

        entry[5].1 = Bytes::from_static(b"gift");
        let message = codec_message(decode::<Order>(&entry).expect_err("fails"));
        assert!(
            message.starts_with(r#"field 'tags': expected a sequence as JSON, got "gift": "#),
            "{message}"
        );

        entry[5].1 = Bytes::from_static(b"[]");
        entry[1].1 = Bytes::from_static(&[b'b', 0xff]);
        let message = codec_message(decode::<Order>(&entry).expect_err("fails"));
        assert!(
            message.starts_with("field 'item': expected UTF-8 text"),
            "{message}"
        );
    }

    #[test]
    fn long_values_are_cut_in_error_messages() {
        #[derive(Debug, Deserialize)]
        struct Count {
            #[allow(dead_code)]
            n: u32,
        }
        let long = "x".repeat(1000);
        let message = codec_message(decode::<Count>(&written(&[("n", &long)])).expect_err("fails"));
        assert!(message.ends_with(r#"xxx"..."#), "{message}");
        assert!(message.len() < 120, "{message}");
    }

    #[test]
    fn only_structs_and_maps_are_entries() {
        let expect = |result: crate::error::Result<Vec<(Bytes, Bytes)>>, kind: &str| {
            assert_eq!(
                codec_message(result.expect_err("fails")),
                format!("the flat codec stores a struct or a map with string keys, not {kind}")
            );
        };
        expect(encode(&42), "an integer");
        expect(encode(&"text"), "a string");
        expect(encode(&vec![1, 2]), "a sequence");
        expect(encode(&(1, 2)), "a tuple");
        expect(encode(&Status::Pending), "an enum");
        expect(encode(&Status::Refunded(1)), "an enum");
        expect(encode(&Some(order())), "an Option");

        let message = codec_message(encode(&HashMap::from([((1, 2), "pair")])).expect_err("fails"));
        assert!(
            message.starts_with("map keys must be strings or numbers"),
            "{message}"
        );

        let message = codec_message(decode::<u64>(&written(&[("a", "1")])).expect_err("fails"));
        assert_eq!(
            message,
            "the flat codec decodes an entry into a struct or a map, not an integer"
        );
        assert!(decode::<Vec<String>>(&written(&[("a", "1")])).is_err());
    }

    #[test]
    fn an_entry_needs_at_least_one_field() {
        #[derive(Serialize)]
        struct Sparse {
            a: Option<u8>,
            b: (),
        }
        let message = codec_message(encode(&Sparse { a: None, b: () }).expect_err("fails"));
        assert!(message.starts_with("nothing to store"), "{message}");
        assert_eq!(
            shown(&encode(&Sparse { a: Some(1), b: () }).expect("encodes")),
            pairs(&[("a", "1")])
        );
    }

    #[test]
    fn newtype_wrappers_pass_through() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Wrapped(Address);

        let wrapped = Wrapped(Address {
            city: "Rome".into(),
            zip: Some("00100".into()),
        });
        let fields = encode(&wrapped).expect("encodes");
        assert_eq!(shown(&fields), pairs(&[("city", "Rome"), ("zip", "00100")]));
        assert_eq!(round_trip(&wrapped), wrapped);
    }

    #[test]
    fn booleans_read_as_words_or_digits() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Flags {
            a: bool,
            b: bool,
        }
        assert_eq!(
            round_trip(&Flags { a: true, b: false }),
            Flags { a: true, b: false }
        );
        for (a, b) in [("true", "false"), ("1", "0")] {
            let flags = decode::<Flags>(&written(&[("a", a), ("b", b)])).expect("decodes");
            assert_eq!(flags, Flags { a: true, b: false });
        }
    }

    #[test]
    fn every_shape_that_is_not_an_entry_is_named() {
        #[derive(Serialize)]
        struct Unit;
        #[derive(Serialize)]
        struct Pair(u8, u8);
        let stored = |result: crate::error::Result<Vec<(Bytes, Bytes)>>| {
            let message = codec_message(result.expect_err("fails"));
            let prefix = "the flat codec stores a struct or a map with string keys, not ";
            message.strip_prefix(prefix).unwrap_or(&message).to_string()
        };
        assert_eq!(stored(encode(&true)), "a boolean");
        assert_eq!(stored(encode(&1.5)), "a float");
        assert_eq!(stored(encode(&'c')), "a character");
        assert_eq!(stored(encode(&())), "unit");
        assert_eq!(stored(encode(&None::<Order>)), "None");
        assert_eq!(stored(encode(&Unit)), "a unit struct");
        assert_eq!(stored(encode(&Pair(1, 2))), "a tuple struct");
        assert_eq!(stored(encode(&Status::Split(1, "a".into()))), "an enum");
        let cancelled = Status::Cancelled { reason: "r".into() };
        assert_eq!(stored(encode(&cancelled)), "an enum");

        let entry = written(&[("a", "1")]);
        let target = |message: String| {
            let prefix = "the flat codec decodes an entry into a struct or a map, not ";
            message.strip_prefix(prefix).unwrap_or(&message).to_string()
        };
        let decoded = |e: Error| target(codec_message(e));
        assert_eq!(
            decoded(decode::<bool>(&entry).expect_err("fails")),
            "a boolean"
        );
        assert_eq!(
            decoded(decode::<f64>(&entry).expect_err("fails")),
            "a float"
        );
        assert_eq!(
            decoded(decode::<char>(&entry).expect_err("fails")),
            "a character"
        );
        assert_eq!(
            decoded(decode::<String>(&entry).expect_err("fails")),
            "a string"
        );
        assert_eq!(
            decoded(decode::<Option<u8>>(&entry).expect_err("fails")),
            "an Option"
        );
        assert_eq!(decoded(decode::<()>(&entry).expect_err("fails")), "unit");
        assert_eq!(
            decoded(decode::<(u8, u8)>(&entry).expect_err("fails")),
            "a sequence"
        );
        assert_eq!(
            decoded(decode::<Status>(&entry).expect_err("fails")),
            "an enum"
        );
        assert!(decode::<serde::de::IgnoredAny>(&entry).is_ok());
    }

    #[test]
    fn bad_keys_and_failing_fields_are_reported() {
        let none_key = BTreeMap::from([(None::<u8>, 1)]);
        assert_eq!(
            codec_message(encode(&none_key).expect_err("fails")),
            "a map key cannot be None or unit"
        );

        // A nested map that JSON cannot hold fails inside its field.
        #[derive(Serialize)]
        struct Grid {
            cells: HashMap<(u8, u8), u8>,
        }
        let grid = Grid {
            cells: HashMap::from([((1, 2), 3)]),
        };
        let message = codec_message(encode(&grid).expect_err("fails"));
        assert!(
            message.starts_with("field 'cells': key must be"),
            "{message}"
        );

        // A value that is not UTF-8 reaches an any-typed target as bytes.
        let raw = vec![(Bytes::from_static(b"k"), Bytes::from_static(&[0xff, 0]))];
        let map = decode::<HashMap<String, serde_json::Value>>(&raw);
        let message = codec_message(map.expect_err("JSON has no bytes"));
        assert!(
            message.starts_with("field 'k': invalid type: byte array"),
            "{message}"
        );
    }
}
