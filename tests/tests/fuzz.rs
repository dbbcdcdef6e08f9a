//! The fuzz targets, bounded for CI (the long runs are by hand: see `src/bin/fuzz.rs` and
//! the README's "Limits and safety").

#[test]
fn request_parser_survives_hostile_bytes() {
    if let Err(e) = rill_tests::fuzz::parser_run(1, 200_000) {
        panic!("{e}");
    }
}

#[test]
fn command_execution_survives_hostile_arguments() {
    if let Err(e) = rill_tests::fuzz::execute_run(1, 100_000, 100) {
        panic!("{e}");
    }
}
