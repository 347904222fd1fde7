//! One time scale for every Databricks-scale interval.
//!
//! Intervals are written in *nominal* time (what they would be on a real job: a 10 s trigger,
//! a 12-minute silent window) and converted to real time through one [`TimeScale`], so
//! `cargo test` compresses minutes into about a second per cell while a nightly run can use
//! real-scale timings.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many real seconds one nominal second takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeScale {
    /// Real seconds per nominal second (1.0 = real scale).
    pub factor: f64,
}

impl std::fmt::Display for TimeScale {
    /// As a person writes it: nominal to real, `600:1` (`1:1` is real time).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = 1.0 / self.factor;
        if (n - n.round()).abs() < 1e-6 {
            write!(f, "{}:1", n.round() as u64)
        } else {
            let text = format!("{n:.3}");
            write!(f, "{}:1", text.trim_end_matches('0').trim_end_matches('.'))
        }
    }
}

impl TimeScale {
    /// The scale `cargo test` uses: ten nominal minutes take one real second.
    pub const TEST: TimeScale = TimeScale { factor: 1.0 / 600.0 };
    /// Real scale: nominal time is real time.
    pub const REAL: TimeScale = TimeScale { factor: 1.0 };

    /// Parses `test`, `real`, or a factor such as `0.01`.
    pub fn parse(s: &str) -> Option<TimeScale> {
        match s {
            "test" => Some(Self::TEST),
            "real" => Some(Self::REAL),
            other => other
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f > 0.0 && *f <= 1.0)
                .map(|factor| TimeScale { factor }),
        }
    }

    /// The real duration of a nominal interval.
    pub fn real(&self, nominal: Duration) -> Duration {
        nominal.mul_f64(self.factor)
    }

    /// The nominal duration of a real interval (for reporting a measured window in the units a
    /// Databricks user thinks in).
    pub fn nominal(&self, real: Duration) -> Duration {
        real.div_f64(self.factor)
    }
}

/// Every interval of a run, in nominal time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Micro-batch trigger interval of every query.
    pub trigger: Duration,
    /// How long after a fault takes effect a loud state must appear.
    pub detection_bound: Duration,
    /// How long after a loud state the affected queries must progress again.
    pub restart_bound: Duration,
    /// How long the harness watches after a fault before it heals and checks.
    pub horizon: Duration,
    /// First backoff before a continuous job starts a new run after a failed one.
    pub backoff_initial: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
    /// A run healthy for this long resets the backoff.
    pub backoff_reset_after: Duration,
    /// Least time between a task's failure and its retry.
    pub min_retry_interval: Duration,
    /// How long the harness waits for every query to catch up after the workload stops.
    pub drain_timeout: Duration,
    /// How long the harness waits for the pipeline to warm up (every query committed) before
    /// it declares the run broken.
    pub warmup_timeout: Duration,
    /// How long a query's Kafka source waits for the broker (metadata, offsets, records) before
    /// it fails the query, as Spark's Kafka source gives up after its API timeout. Never less
    /// than [`SOURCE_TIMEOUT_FLOOR`] of real time: a busy machine must not pass for a dead broker.
    #[serde(default = "default_source_timeout")]
    pub source_timeout: Duration,
}

fn default_source_timeout() -> Duration {
    Duration::from_secs(120)
}

/// The least real time a Kafka source waits for the broker, whatever the scale: at the test
/// scale a nominal timeout would be a fraction of a second, and a machine busy for that long
/// would pass for a dead broker.
pub const SOURCE_TIMEOUT_FLOOR: Duration = Duration::from_secs(10);

impl Timings {
    /// The real time a Kafka source waits for the broker at `scale`.
    pub fn source_timeout(&self, scale: TimeScale) -> Duration {
        scale.real(self.source_timeout).max(SOURCE_TIMEOUT_FLOOR)
    }
}

impl Default for Timings {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(60 * m);
        Timings {
            trigger: Duration::from_secs(10),
            detection_bound: Duration::from_secs(150),
            restart_bound: min(10),
            // The incident's own length: 12 minutes of RUNNING while nothing committed.
            horizon: min(12),
            backoff_initial: Duration::from_secs(30),
            // Below the restart bound, so a job that failed its runs while a fault lasted can
            // restart within the bound once the fault is healed.
            backoff_max: min(5),
            backoff_reset_after: min(30),
            min_retry_interval: min(1),
            drain_timeout: min(120),
            warmup_timeout: min(120),
            source_timeout: default_source_timeout(),
        }
    }
}

/// Microseconds since the Unix epoch: the one clock every process of a run stamps events with.
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// Renders a duration the way the report does: `850ms`, `4.2s`, `12m03s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let s = d.as_secs();
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Parses a duration as [`human`] renders it, or as a person would write it: `850ms`, `30s`,
/// `4.2s`, `2m`, `12m03s`, `1h02m`, `1m30s`. None for anything else.
pub fn parse_human(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let value: f64 = number.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
        let (unit, after) = if let Some(a) = after.strip_prefix("ms") {
            (0.001, a)
        } else if let Some(a) = after.strip_prefix('h') {
            (3600.0, a)
        } else if let Some(a) = after.strip_prefix('m') {
            (60.0, a)
        } else if let Some(a) = after.strip_prefix('s') {
            (1.0, a)
        } else {
            return None;
        };
        total += Duration::from_secs_f64(value * unit);
        rest = after;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_parse_back() {
        for d in [850, 4_200, 120_000, 723_000, 3_720_000].map(Duration::from_millis) {
            assert_eq!(parse_human(&human(d)), Some(d), "{}", human(d));
        }
        assert_eq!(parse_human("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_human("2"), None, "a unit is required");
        assert_eq!(parse_human("2x"), None);
        assert_eq!(parse_human(""), None);
    }

    #[test]
    fn scales_are_written_nominal_to_real() {
        assert_eq!(TimeScale::TEST.to_string(), "600:1");
        assert_eq!(TimeScale::REAL.to_string(), "1:1");
        assert_eq!(TimeScale { factor: 1.0 / 20.0 }.to_string(), "20:1");
        assert_eq!(TimeScale { factor: 0.3 }.to_string(), "3.333:1");
    }

    #[test]
    fn test_scale_compresses_ten_minutes_into_a_second() {
        let d = TimeScale::TEST.real(Duration::from_secs(600));
        assert_eq!(d.as_millis(), 1000);
        assert_eq!(TimeScale::TEST.nominal(Duration::from_millis(1200)).as_secs(), 720);
    }

    #[test]
    fn parse_rejects_nonsense() {
        assert_eq!(TimeScale::parse("real"), Some(TimeScale::REAL));
        assert_eq!(TimeScale::parse("0.5").map(|s| s.factor), Some(0.5));
        assert!(TimeScale::parse("0").is_none());
        assert!(TimeScale::parse("-1").is_none());
        assert!(TimeScale::parse("2").is_none());
        assert!(TimeScale::parse("fast").is_none());
    }

    #[test]
    fn human_renders_each_magnitude() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(4200)), "4.2s");
        assert_eq!(human(Duration::from_secs(723)), "12m03s");
    }
}
