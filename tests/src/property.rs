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

/// The failure of one generated command: which, both replies, and Redis's replies so far.
pub fn mismatch(
    index: usize,
    action: &crate::case::Action,
    outcome: &crate::diff::Outcome,
    transcript: &str,
) -> proptest::test_runner::TestCaseError {
    proptest::test_runner::TestCaseError::fail(format!(
        "command {} differs\n  command: {}\n  redis:   {}\n  other:   {}\ntranscript (Redis's replies):\n{transcript}",
        index + 1,
        crate::diff::describe(action),
        outcome.redis,
        outcome.other
    ))
}

/// Runs the sequences `strategy` makes through `run` against `servers` (started by the
/// caller), and panics with the shrunk failure written as a case block by `as_case`.
pub fn check<S: proptest::strategy::Strategy>(
    what: &str,
    servers: &crate::diff::Servers,
    strategy: &S,
    run: impl Fn(&S::Value) -> Result<(), proptest::test_runner::TestCaseError>,
    as_case: impl Fn(&S::Value) -> String,
) {
    use proptest::test_runner::{TestError, TestRunner};
    let config = config();
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let result = runner.run(strategy, |value| run(&value));
    eprintln!(
        "{what} proptest: {cases} sequences against {}",
        servers.under_test.label()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, minimal)) => panic!(
            "Rill differs from Redis on a generated sequence.\n{reason}\n\nMinimal sequence as a case (paste into tests/cases/):\n{}",
            as_case(&minimal)
        ),
        Err(TestError::Abort(reason)) => panic!("proptest aborted: {reason}"),
    }
}

/// Runs generated command `index` on both servers of `duel`, adds Redis's reply to
/// `transcript`, and fails with [`mismatch`] when the replies differ.
pub fn step(
    duel: &mut crate::diff::Duel,
    index: usize,
    action: &crate::case::Action,
    masking: &crate::mask::Masking,
    transcript: &mut String,
) -> Result<(), proptest::test_runner::TestCaseError> {
    let outcome = duel.exchange(0, action, masking);
    transcript.push_str(&format!(
        "{:>3} {}  => {}\n",
        index + 1,
        crate::diff::describe(action),
        outcome.redis
    ));
    if outcome.matches {
        Ok(())
    } else {
        Err(mismatch(index, action, &outcome, transcript))
    }
}
