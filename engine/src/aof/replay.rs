//! Loading a log into an engine: each command runs as Redis runs it while loading an AOF,
//! in a client of its own whose replies are dropped, SELECT moving between databases.

use std::fmt;

use super::log::Record;
use crate::Engine;

/// Why a log could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// A command Rill does not know (Redis stops the same way: "Unknown command ... reading
    /// the append only file").
    UnknownCommand {
        /// The command's name as the file has it.
        name: String,
        /// The file it came from.
        file: String,
        /// Where its record starts.
        offset: usize,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::UnknownCommand { name, file, offset } => write!(
                f,
                "Unknown command '{name}' reading the append only file {file} (at offset {offset})"
            ),
        }
    }
}

/// Runs every record of `file` on `engine`, in order, with expiry suspended (as Redis does
/// while loading: each command meets the data it first ran on). Errors the commands
/// themselves answer are dropped, as Redis drops them while loading; a command that does not
/// exist stops the load, since skipping it would load a different dataset than the one
/// logged.
pub fn replay(engine: &Engine, file: &str, records: &[Record]) -> Result<usize, ReplayError> {
    let mut session = engine.session();
    session.authenticate_for_loading();
    let delay = {
        let mut st = engine.shared.state.lock();
        st.keyspace.set_loading(true);
        st.config.signed("key-load-delay")
    };
    let result = run_records(&mut session, file, records, delay);
    engine.shared.state.lock().keyspace.set_loading(false);
    result
}

fn run_records(
    session: &mut crate::Session,
    file: &str,
    records: &[Record],
    delay: i64,
) -> Result<usize, ReplayError> {
    let mut start = 0;
    for record in records {
        if crate::command::lookup(&record.args).is_err() {
            return Err(ReplayError::UnknownCommand {
                name: String::from_utf8_lossy(record.args.first().map_or(&b""[..], |a| a))
                    .into_owned(),
                file: file.to_string(),
                offset: start,
            });
        }
        let _ = session.execute(&record.args);
        crate::rdb::save::load_delay(delay);
        start = record.end;
    }
    Ok(records.len())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::aof::log::read;
    use crate::test_support::run;
    use crate::Reply;

    #[test]
    fn a_redis_7_aof_loads_into_rill() {
        let engine = Engine::new();
        for (name, data) in [
            (
                "appendonly.aof.2.base.aof",
                &include_bytes!(
                    "../../tests/fixtures/redis-7.0-appendonlydir/appendonly.aof.2.base.aof"
                )[..],
            ),
            (
                "appendonly.aof.2.incr.aof",
                &include_bytes!(
                    "../../tests/fixtures/redis-7.0-appendonlydir/appendonly.aof.2.incr.aof"
                )[..],
            ),
        ] {
            let (records, _) =
                read(&Bytes::copy_from_slice(data)).unwrap_or_else(|e| panic!("{e:?}"));
            replay(&engine, name, &records).unwrap_or_else(|e| panic!("{e}"));
        }
        let mut s = engine.session();
        assert_eq!(run(&mut s, &["XLEN", "s"]), Reply::Integer(1));
        assert_eq!(run(&mut s, &["GET", "n"]), Reply::bulk(b"1"));
        assert_eq!(run(&mut s, &["SELECT", "2"]), Reply::ok());
        assert_eq!(run(&mut s, &["GET", "a"]), Reply::bulk(b"b"));
    }

    #[test]
    fn an_unknown_command_stops_the_load_with_its_offset() {
        let mut data = Vec::new();
        crate::aof::log::encode(
            &[Bytes::from("SET"), Bytes::from("a"), Bytes::from("1")],
            &mut data,
        );
        let offset = data.len();
        crate::aof::log::encode(&[Bytes::from("NOSUCH")], &mut data);
        let (records, _) = read(&Bytes::from(data)).unwrap_or_else(|e| panic!("{e:?}"));
        let err = replay(&Engine::new(), "x.aof", &records);
        assert_eq!(
            err,
            Err(ReplayError::UnknownCommand {
                name: "NOSUCH".into(),
                file: "x.aof".into(),
                offset
            })
        );
    }
}
