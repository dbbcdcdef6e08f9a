//! Every case in `tests/cases/*.txt`, run on redis-server and on Rill, replies compared.
//!
//! Prints every mismatch and ends with `differential: N cases, M commands, K mismatches`.
//! `RILL_DIFF_SELFTEST=1` runs Redis against Redis (validates the cases); `RILL_DIFF_DUMP=1`
//! prints each command with Redis's reply; `RILL_DIFF_FILTER=text` runs only the cases whose
//! file or case name contains `text`.

use rill_tests::case::{load_dir, CaseFile};
use rill_tests::diff::{run_files, Servers};
use std::io::Write;
use std::path::Path;

#[test]
fn rill_matches_redis_on_every_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut files = match load_dir(&dir) {
        Ok(files) => files,
        Err(e) => panic!("cannot load case files: {e}"),
    };
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    if let Ok(filter) = std::env::var("RILL_DIFF_FILTER") {
        for file in &mut files {
            let keep_all = file.name.contains(&filter);
            file.cases.retain(|c| keep_all || c.name.contains(&filter));
        }
        files.retain(|f: &CaseFile| !f.cases.is_empty());
    }
    let Some(servers) = Servers::start() else {
        return; // redis-server missing: the oracle printed a loud warning.
    };
    let report = run_files(&files, &servers);
    // Every mismatch goes to the captured output (shown when the test fails); the summary is
    // written to the real stderr so it shows on every run, passing or not.
    println!("{report}");
    let _ = writeln!(std::io::stderr(), "{}", report.summary());
    assert!(report.mismatches.is_empty(), "{}", report.summary());
}
