//! (being written)
/// A health report.
#[derive(Debug, Clone, Default)]
pub struct HealthReport;
/// Thresholds.
#[derive(Debug, Clone, Default)]
pub struct HealthThresholds;
/// A problem.
#[derive(Debug, Clone)]
pub enum Problem {}
