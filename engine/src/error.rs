//! Redis's error texts, kept in one place so that every command answers with the exact words.

/// An option the command does not know, or one in the wrong place.
pub const SYNTAX: &str = "ERR syntax error";
/// The key holds another type than the command works on (a string for XADD, a stream for GET).
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
/// An argument that must be an integer is not one, or does not fit in 64 bits.
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
/// An ID argument that is not `ms` or `ms-seq` (or `-`/`+` where a range bound is allowed).
pub const INVALID_STREAM_ID: &str = "ERR Invalid stream ID specified as stream command argument";
/// XINFO, XSETID, RENAME and the like on a key that does not exist.
pub const NO_SUCH_KEY: &str = "ERR no such key";
/// SELECT, MOVE, SWAPDB or COPY ... DB with a database number past the last database.
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
/// INCR and friends when the result would leave the i64 range.
pub const INCR_OVERFLOW: &str = "ERR increment or decrement would overflow";
/// Any command but the handshake ones before AUTH, when `requirepass` is set.
pub const NOAUTH: &str = "NOAUTH Authentication required.";
/// MULTI while a MULTI is already open.
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
/// EXEC with no MULTI open.
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
/// DISCARD with no MULTI open.
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
/// EXEC after a command was refused while queuing (unknown, wrong arity...): nothing runs.
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
/// A command flagged `no_multi` (SAVE, SHUTDOWN, SYNC, PSYNC) sent inside MULTI.
pub const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
/// WATCH after MULTI: keys must be watched before the transaction opens.
pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";

/// `ERR wrong number of arguments for 'xadd' command`
pub fn arity(command: &str) -> String {
    format!("ERR wrong number of arguments for '{command}' command")
}

/// `ERR unknown command 'FOO', with args beginning with: 'a' 'b' `: like Redis, the quoted
/// arguments are cut so that the list stays within 128 characters.
pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> String {
    let mut list = String::new();
    for arg in args {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push('\'');
        list.push_str(&printable(arg, room));
        list.push_str("' ");
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {list}",
        printable(name, 128)
    )
}

/// `ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.`
pub fn subcommand_syntax(command: &str, sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        printable(sub, 128),
        command.to_ascii_uppercase()
    )
}

/// `ERR unknown subcommand 'foo'. Try CLIENT HELP.`
pub fn unknown_subcommand(command: &str, sub: &[u8]) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {}.",
        printable(sub, 128),
        format_args!("{} HELP", command.to_ascii_uppercase())
    )
}

/// Redis puts arguments into error lines after replacing CR/LF with spaces and cutting them to
/// a bounded length, so an error reply stays one line.
pub fn printable(arg: &[u8], max: usize) -> String {
    let cut = &arg[..arg.len().min(max)];
    c_str(cut)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// An argument as Redis's `%s` prints it into an error: up to its first NUL byte (the
/// argument is a C string there). Bytes that are not UTF-8 show as U+FFFD (Rill's error
/// replies are text; Redis echoes them as they came).
pub fn c_str(arg: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    String::from_utf8_lossy(&arg[..end])
}

/// `-NOGROUP No such consumer group 'g' for key name 'k'` (XGROUP, XINFO CONSUMERS).
pub fn no_such_group(key: &[u8], group: &[u8]) -> crate::reply::Reply {
    crate::reply::Reply::error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        c_str(group),
        c_str(key)
    ))
}
