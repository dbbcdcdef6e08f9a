//! Redis's error texts, kept in one place so that every command answers with the exact words.

pub const SYNTAX: &str = "ERR syntax error";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const INVALID_STREAM_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const INCR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
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
    String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}
