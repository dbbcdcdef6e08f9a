//! DUMP payloads: one value in RDB form, then the RDB version (2 bytes, little-endian) and a
//! CRC-64 of everything before it (8 bytes, little-endian), as Redis's DUMP writes and
//! RESTORE checks them.

use super::crc64::crc64;
use super::encoding::{BadFormat, Reader};
use super::value;
use super::RDB_VERSION;
use crate::keyspace::Value;

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Too short, a version newer than Rill reads, or a checksum that does not match.
    VersionOrChecksum,
    /// The value inside is malformed.
    BadFormat(&'static str),
}

/// The payload DUMP returns for `value`, in RDB `version`.
pub fn dump(value: &Value, version: super::Version, compress: bool) -> Vec<u8> {
    let version = version.resolve([value]);
    let kind = value::type_for(value, version);
    let mut out = vec![kind];
    // In memory: nothing to spill, so nothing can fail.
    let _ = value::write(&mut out, value, kind, compress, &mut |_| Ok(()));
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value in a payload, after checking its version and checksum.
pub fn restore(payload: &[u8], layout: impl Into<value::Layout>) -> Result<Value, PayloadError> {
    let layout = layout.into();
    if payload.len() < 10 {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, footer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > RDB_VERSION || crc64(&payload[..payload.len() - 8]) != u64::from_le_bytes(crc) {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut r = Reader::new(body);
    let kind = r.u8().map_err(|e| PayloadError::BadFormat(e.0))?;
    let value =
        value::read(&mut r, kind, layout).map_err(|BadFormat(e)| PayloadError::BadFormat(e))?;
    if r.remaining() != 0 {
        return Err(PayloadError::BadFormat("bytes after the value"));
    }
    Ok(value)
}
