//! (being written)
/// Options of the consumer runtime.
#[derive(Debug, Clone, Default)]
pub struct ConsumerOptions;
/// Consumer metrics.
#[derive(Debug, Clone, Default)]
pub struct Metrics;
/// Competing consumers.
pub struct WorkerPool;
