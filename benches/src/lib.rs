//! Rill's benchmarks: criterion benches for the engine in `benches/engine.rs`, and the comparison
//! against `redis-server` in `compare.py`. See `README.md`; this library itself is empty.

/// `--messages N --rounds R` from the command line, each optional (`defaults` otherwise);
/// `None` for anything else, for the caller to print its usage.
pub fn messages_and_rounds(defaults: (usize, usize)) -> Option<(usize, usize)> {
    messages_rounds_and(defaults, &[]).map(|a| (a.messages, a.rounds))
}

/// A bench's command line: messages, rounds, and its own options.
pub struct BenchArgs {
    /// `--messages N`.
    pub messages: usize,
    /// `--rounds R`.
    pub rounds: usize,
    /// The other options the bench named, `(--name, value)` as given.
    pub options: Vec<(String, String)>,
}

/// [`messages_and_rounds`] plus the options named in `extra` (`--name value`).
pub fn messages_rounds_and(defaults: (usize, usize), extra: &[&str]) -> Option<BenchArgs> {
    let (mut messages, mut rounds) = defaults;
    let mut options = Vec::new();
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value, pair.get(1)) {
            ("--messages", Some(n), _) => messages = n,
            ("--rounds", Some(n), _) => rounds = n,
            (name, _, Some(text)) if extra.contains(&name) => {
                options.push((name.to_string(), text.clone()))
            }
            _ => return None,
        }
    }
    Some(BenchArgs {
        messages,
        rounds,
        options,
    })
}

/// The median of `values` (sorted in place); 0 when empty.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
