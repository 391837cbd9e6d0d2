//! The kernel clock: monotonic nanoseconds, with wall-clock conversion.

use std::time::{Duration, Instant, SystemTime};

/// Monotonic time in signed nanoseconds since the kernel started, plus the
/// wall-clock time of that start for `alarm`'s absolute times.
///
/// The wall offset is fixed when the kernel starts, as POE fixes its
/// monotonic priorities, so a due time survives wall-clock jumps and an
/// absolute time converts back to exactly the time that was given.
pub(crate) struct Clock {
    epoch: Instant,
    wall_epoch: SystemTime,
    /// The last time read. Posted events are stamped with it instead of a
    /// fresh read (see docs/architecture.md, "Time").
    cached: i64,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            epoch: Instant::now(),
            wall_epoch: SystemTime::now(),
            cached: 0,
        }
    }

    /// Reads the clock.
    pub fn now(&mut self) -> i64 {
        let elapsed = i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX);
        self.cached = self.cached.max(elapsed);
        self.cached
    }

    /// The last time read.
    pub fn cached(&self) -> i64 {
        self.cached
    }

    /// `now + delay`, if it fits.
    pub fn after(&mut self, delay: Duration) -> Option<i64> {
        let delay = i64::try_from(delay.as_nanos()).ok()?;
        self.now().checked_add(delay)
    }

    /// An absolute time on the kernel clock, if it is within about 292 years.
    pub fn to_kernel_time(&self, at: SystemTime) -> Option<i64> {
        match at.duration_since(self.wall_epoch) {
            Ok(ahead) => i64::try_from(ahead.as_nanos()).ok(),
            Err(behind) => i64::try_from(behind.duration().as_nanos())
                .ok()
                .map(|ns| -ns),
        }
    }

    /// A kernel time as wall-clock time.
    pub fn to_wall_time(&self, at: i64) -> SystemTime {
        let offset = Duration::from_nanos(at.unsigned_abs());
        if at >= 0 {
            self.wall_epoch + offset
        } else {
            self.wall_epoch - offset
        }
    }

    /// How long from the last reading until `at` (zero if past).
    pub fn until(&mut self, at: i64) -> Duration {
        let now = self.now();
        Duration::from_nanos(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_times_convert_back_exactly() {
        let clock = Clock::new();
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        let at = clock.to_kernel_time(far).unwrap();
        assert_eq!(
            clock.to_wall_time(at + 10_000_000_000),
            far + Duration::from_secs(10)
        );
        let past = SystemTime::UNIX_EPOCH;
        assert_eq!(
            clock.to_wall_time(clock.to_kernel_time(past).unwrap()),
            past
        );
    }

    #[test]
    fn readings_never_go_backwards() {
        let mut clock = Clock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert_eq!(clock.cached(), b);
    }
}
