//! Catch-up progress: while a projection is behind (a rebuild from offset 0,
//! a new instance, a backlog after an outage), the runner logs every
//! [`REPORT_EVERY`] how fast it applies, how far behind it is and when it
//! will have caught up, and exports the same as metrics. Pure: the loop
//! feeds it what it applied and the lag librdkafka's statistics report.

use std::time::{Duration, Instant};

/// How often progress is reported while behind.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Behind by more than this many records: report progress.
pub const BEHIND_ABOVE: u64 = 1_000;

/// What to tell the operator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Report {
    /// Still catching up.
    Behind { events_per_sec: f64, lag: u64, eta: Option<Duration> },
    /// The lag fell back under [`BEHIND_ABOVE`] since the last report.
    CaughtUp { events_per_sec: f64 },
}

/// Follows one projection's catch-up.
#[derive(Debug)]
pub struct CatchUp {
    since: Instant,
    applied: u64,
    behind: bool,
}

impl CatchUp {
    pub fn new(now: Instant) -> Self {
        CatchUp { since: now, applied: 0, behind: false }
    }

    /// Counts events applied by a committed batch.
    pub fn applied(&mut self, events: u64) {
        self.applied += events;
    }

    /// A report when [`REPORT_EVERY`] has passed and there is something to
    /// say (behind, or just caught up); `lag` is the records not yet applied.
    pub fn report(&mut self, now: Instant, lag: u64) -> Option<Report> {
        let elapsed = now.duration_since(self.since);
        if elapsed < REPORT_EVERY {
            return None;
        }
        let events_per_sec = self.applied as f64 / elapsed.as_secs_f64();
        self.since = now;
        self.applied = 0;
        let was_behind = self.behind;
        self.behind = lag > BEHIND_ABOVE;
        match (was_behind, self.behind) {
            (_, true) => {
                let eta = (events_per_sec > 0.0).then(|| Duration::from_secs_f64(lag as f64 / events_per_sec));
                Some(Report::Behind { events_per_sec, lag, eta })
            }
            (true, false) => Some(Report::CaughtUp { events_per_sec }),
            (false, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projection_behind_reports_its_rate_lag_and_eta_every_period() {
        let t0 = Instant::now();
        let mut c = CatchUp::new(t0);
        c.applied(50_000);
        assert_eq!(c.report(t0 + Duration::from_secs(5), 100_000), None, "not before the period");
        let r = c.report(t0 + Duration::from_secs(10), 100_000).unwrap();
        assert_eq!(r, Report::Behind { events_per_sec: 5_000.0, lag: 100_000, eta: Some(Duration::from_secs(20)) });
        // Nothing applied in the next period: behind, with no ETA.
        assert_eq!(c.report(t0 + Duration::from_secs(20), 100_000), Some(Report::Behind { events_per_sec: 0.0, lag: 100_000, eta: None }));
    }

    #[test]
    fn catching_up_is_reported_once_and_a_projection_keeping_up_stays_quiet() {
        let t0 = Instant::now();
        let mut c = CatchUp::new(t0);
        c.applied(30_000);
        assert!(matches!(c.report(t0 + Duration::from_secs(10), 5_000), Some(Report::Behind { .. })));
        c.applied(5_000);
        assert_eq!(c.report(t0 + Duration::from_secs(20), 0), Some(Report::CaughtUp { events_per_sec: 500.0 }));
        c.applied(10);
        assert_eq!(c.report(t0 + Duration::from_secs(30), 3), None);
        assert_eq!(c.report(t0 + Duration::from_secs(40), BEHIND_ABOVE), None, "at the threshold is not behind");
    }
}
