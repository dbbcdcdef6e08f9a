//! Typed access to a key's value for the data-type commands: a read (counted in INFO's hits
//! and misses) or a write, WRONGTYPE when the key holds another type, and what a change to a
//! collection does to its key.

use bytes::Bytes;

use super::keys::lookup_read;
use super::Ctx;
use crate::error;
use crate::hash::Hash;
use crate::keyspace::Value;
use crate::list::List;
use crate::reply::Reply;
use crate::set::Set;
use crate::string_value::Str;
use crate::zset::ZSet;

/// A value type a command works on.
pub(crate) trait Typed {
    /// The value as this type, if it is one.
    fn of(value: &Value) -> Option<&Self>;
    /// The same, for a change.
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
}

macro_rules! typed {
    ($t:ty, $variant:ident) => {
        impl Typed for $t {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

typed!(Str, Str);
typed!(Hash, Hash);
typed!(List, List);
typed!(Set, Set);
typed!(ZSet, ZSet);

/// The value at `key` for a read: `Ok(None)` when absent, WRONGTYPE when another type.
pub(crate) fn read<'a, T: Typed>(ctx: &'a mut Ctx, key: &[u8]) -> Result<Option<&'a T>, Reply> {
    match lookup_read(ctx, key) {
        None => Ok(None),
        Some(v) => T::of(v)
            .map(Some)
            .ok_or_else(|| Reply::error(error::WRONGTYPE)),
    }
}

/// The value at `key` for a write (not counted as a hit or miss).
pub(crate) fn write<'a, T: Typed>(
    ctx: &'a mut Ctx,
    key: &[u8],
) -> Result<Option<&'a mut T>, Reply> {
    let now = ctx.now_ms;
    match ctx.db().get_mut(key, now) {
        None => Ok(None),
        Some(v) => T::of_mut(v)
            .map(Some)
            .ok_or_else(|| Reply::error(error::WRONGTYPE)),
    }
}

/// The value at `key` for a write, stored as `fresh()` first when absent.
pub(crate) fn write_or_create<'a, T: Typed>(
    ctx: &'a mut Ctx,
    key: &Bytes,
    fresh: impl FnOnce() -> Value,
) -> Result<&'a mut T, Reply> {
    if write::<T>(ctx, key)?.is_none() {
        ctx.db().set(key.clone(), fresh(), false);
    }
    write::<T>(ctx, key)?.ok_or_else(|| Reply::error(error::WRONGTYPE))
}

/// A keyspace notification: its class (see [`crate::notify`]) and event name.
pub(crate) type Event = (u16, &'static str);

/// After a change to the collection at `key`: publishes `event`, deletes the key when emptied
/// (as Redis does, with a `del` event) and counts the write.
pub(crate) fn changed(ctx: &mut Ctx, key: &[u8], emptied: bool, event: Event) {
    ctx.notify(event.0, event.1, key);
    if emptied {
        ctx.db().remove(key);
        ctx.notify(crate::notify::GENERIC, "del", key);
    }
    ctx.touch(key);
}

/// A collection type's size and member removal, for the commands all of them share.
pub(crate) trait Collection: Typed {
    /// Number of members (fields, elements).
    fn size(&self) -> usize;
    /// Removes `member`; true when it was there.
    fn take_out(&mut self, member: &[u8]) -> bool;
}

impl Collection for Hash {
    fn size(&self) -> usize {
        self.len()
    }
    fn take_out(&mut self, member: &[u8]) -> bool {
        self.remove(member)
    }
}

impl Collection for Set {
    fn size(&self) -> usize {
        self.len()
    }
    fn take_out(&mut self, member: &[u8]) -> bool {
        self.remove(member)
    }
}

impl Collection for ZSet {
    fn size(&self) -> usize {
        self.len()
    }
    fn take_out(&mut self, member: &[u8]) -> bool {
        self.remove(member).is_some()
    }
}

/// SREM and ZREM: removes each of `args[2..]` from the collection at `args[1]`, publishes
/// `event` and deletes the key when that emptied it; answers how many went.
pub(crate) fn remove_each<T: Collection>(ctx: &mut Ctx, args: &[Bytes], event: Event) -> Reply {
    let c = match write::<T>(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Integer(0),
        Ok(Some(c)) => c,
    };
    let removed = args[2..].iter().filter(|m| c.take_out(m)).count();
    let emptied = c.size() == 0;
    if removed > 0 {
        changed(ctx, &args[1], emptied, event);
    }
    Reply::Integer(removed as i64)
}

/// SCARD and ZCARD: the size of the collection at `args[1]`, 0 when there is none.
pub(crate) fn cardinality<T: Collection>(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<T>(ctx, &args[1]) {
        Err(e) => e,
        Ok(c) => Reply::Integer(c.map_or(0, T::size) as i64),
    }
}

/// SSCAN and ZSCAN: `key cursor [MATCH pattern] [COUNT count]` parsed as Redis parses it, and
/// `batch` (the collection, cursor, COUNT, pattern) making the next cursor and the items; a
/// missing key answers an empty last page.
pub(crate) fn scan<T: Typed>(
    ctx: &mut Ctx,
    args: &[Bytes],
    batch: impl FnOnce(&T, u64, usize, Option<&Bytes>) -> (u64, Vec<Reply>),
) -> Reply {
    let Some(cursor) = super::keys::parse_cursor(&args[2]) else {
        return Reply::error("ERR invalid cursor");
    };
    // As Redis: the cursor, then the key (missing: an empty scan, whatever the options;
    // another type: WRONGTYPE), then the options.
    let collection = match read::<T>(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return empty_scan(),
        Ok(Some(c)) => c,
    };
    let (count, pattern) = match super::keys::scan_options(args, 3) {
        Ok(options) => options,
        Err(e) => return e,
    };
    let (next, items) = batch(collection, cursor, count, pattern);
    Reply::Array(vec![Reply::text(next.to_string()), Reply::Array(items)])
}

/// What a scan of a missing key answers: cursor 0, nothing.
pub(crate) fn empty_scan() -> Reply {
    Reply::Array(vec![Reply::text("0"), Reply::Array(Vec::new())])
}
