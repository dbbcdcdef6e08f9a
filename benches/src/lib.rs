//! Rill's benchmarks: criterion benches for the engine in `benches/engine.rs`, and the comparison
//! against `redis-server` in `compare.py`. See `README.md`; this library itself is empty.
