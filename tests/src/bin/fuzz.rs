//! Runs a fuzz target for as many inputs as asked, reporting the rate; exits non-zero with
//! the failing seed on the first problem.
//!
//! `cargo run --release -p rill-tests --bin fuzz -- --target parser|execute --inputs N [--seed S]`

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let target = value("--target").unwrap_or_else(|| "parser".into());
    let inputs: u64 = value("--inputs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = value("--seed").and_then(|v| v.parse().ok()).unwrap_or(1);
    let started = Instant::now();
    // Progress in chunks, so a long run shows it is alive.
    let chunk = 1_000_000u64.min(inputs.max(1));
    let mut done = 0u64;
    while done < inputs {
        let n = chunk.min(inputs - done);
        let result = match target.as_str() {
            "parser" => rill_tests::fuzz::parser_run(seed + done, n),
            "execute" => rill_tests::fuzz::execute_run(seed + done / 100, n, 100),
            other => {
                eprintln!("unknown target {other}: parser or execute");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = result {
            eprintln!("FAILED after {done} inputs: {e}");
            return ExitCode::FAILURE;
        }
        done += n;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{target}: {done} inputs, {:.0}/s, {secs:.0}s",
            done as f64 / secs.max(1e-9)
        );
    }
    ExitCode::SUCCESS
}
