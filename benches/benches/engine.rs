//! Criterion benches for the embedded engine (filled in with the engine API).
fn main() {}
