//! A string value (SET, INCR...): short ones live inside the key's slot, as Redis's `embstr`
//! keeps a short string inside its object, and longer ones in their own shared buffer (a GET
//! then replies with the stored bytes, no copy).

use bytes::Bytes;

/// Longest string kept inline.
const INLINE: usize = 22;

/// A string value.
#[derive(Clone, PartialEq, Eq)]
pub enum Str {
    /// Up to [`INLINE`] bytes, held in place.
    Short {
        /// Bytes used.
        len: u8,
        /// The bytes, zero-padded.
        buf: [u8; INLINE],
    },
    /// Longer: its own allocation (never a slice of a request buffer, which it would pin).
    Long(Bytes),
}

impl Str {
    /// `text` as a stored string: inline when short, else copied into its own allocation.
    pub fn new(text: &[u8]) -> Str {
        if text.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..text.len()].copy_from_slice(text);
            Str::Short {
                len: text.len() as u8,
                buf,
            }
        } else {
            Str::Long(Bytes::copy_from_slice(text))
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Str::Short { len, buf } => &buf[..usize::from(*len)],
            Str::Long(b) => b,
        }
    }

    /// The bytes as a handle for a reply: shared when long, copied when short.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Short { .. } => Bytes::copy_from_slice(self.as_bytes()),
            Str::Long(b) => b.clone(),
        }
    }

    /// Bytes `range` (in bounds) as a reply handle: shared when long, copied when short.
    pub fn slice(&self, range: std::ops::RangeInclusive<usize>) -> Bytes {
        match self {
            Str::Short { .. } => Bytes::copy_from_slice(&self.as_bytes()[range]),
            Str::Long(b) => b.slice(range),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// The empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held beyond the slot.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Str::Short { .. } => 0,
            Str::Long(b) => b.len(),
        }
    }
}

impl std::ops::Deref for Str {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", Bytes::copy_from_slice(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_fit_in_a_bytes_handle_and_long_ones_own_their_bytes() {
        assert_eq!(std::mem::size_of::<Str>(), std::mem::size_of::<Bytes>());
        let short = Str::new(b"value-12345");
        assert!(matches!(short, Str::Short { .. }));
        assert_eq!(short.as_bytes(), b"value-12345");
        assert_eq!(short.to_bytes(), Bytes::from_static(b"value-12345"));
        let exact = Str::new(&[b'x'; INLINE]);
        assert!(matches!(exact, Str::Short { .. }) && exact.len() == INLINE);
        let frame = Bytes::from(vec![b'y'; 1024]);
        let long = Str::new(&frame[..100]);
        let Str::Long(held) = &long else {
            panic!("expected a long string");
        };
        assert_ne!(held.as_ptr(), frame.as_ptr(), "copied out of the frame");
        assert_eq!(long.len(), 100);
        assert!(Str::new(b"").is_empty());
    }
}
