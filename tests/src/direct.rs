//! Helpers for direct tests: behaviour checked against expected replies written from Redis's
//! documentation and its own test suites, where Debian's Redis 7.0 cannot answer (commands
//! and rules newer than 7.0).

use crate::client::Connection;

/// A connection to an in-process rill-server.
///
/// # Panics
///
/// When it cannot connect: a bug to see.
pub fn connect(rill: &rill_server::RunningServer) -> Connection {
    Connection::open(rill.addr()).unwrap_or_else(|e| panic!("connect: {e}"))
}

/// Sends `line` (words split on spaces) and returns the reply in the one-line form of
/// [`crate::reply::Reply`]'s Display (`[:1, :-1]`, `-ERR ...`, `"bulk"`).
///
/// # Panics
///
/// When the connection fails.
pub fn call(c: &mut Connection, line: &str) -> String {
    let args: Vec<&str> = line.split(' ').collect();
    c.call(&args)
        .unwrap_or_else(|e| panic!("{line}: {e}"))
        .to_string()
}

/// Runs `lines`, each expected to succeed.
///
/// # Panics
///
/// When one answers an error.
pub fn setup(c: &mut Connection, lines: &[&str]) {
    for line in lines {
        let reply = call(c, line);
        assert!(!reply.starts_with('-'), "{line}: {reply}");
    }
}
