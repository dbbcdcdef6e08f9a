//! Settings shared by the property tests that run random command sequences on both servers.

use proptest::test_runner::Config;

/// Sequences per run unless `PROPTEST_CASES` says otherwise: enough to find the usual
/// divergences in a second or two.
pub const DEFAULT_CASES: u32 = 64;

/// A proptest configuration for the differential property tests: no failure files (a failing
/// sequence is printed as a ready-to-paste case instead), `PROPTEST_CASES` or the default.
pub fn config() -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    config
}
