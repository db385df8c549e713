//! Summaries over runs, and per-thread CPU time from `/proc` (Linux), so a figure can say whether
//! the server or the client was the one saturating its core.

use std::time::Duration;

/// Median, min and max of one figure over the runs.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Self {
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
        }
    }
}

/// The `q` quantile (0..=1) of some durations, in microseconds (nearest rank).
pub fn quantile_us(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1].as_secs_f64() * 1e6
}

/// CPU time of some threads: on a CPU, and runnable but waiting for one (run-queue delay, what
/// a noisy neighbour costs), from `/proc/.../schedstat` (nanoseconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadTimes {
    pub on_cpu: Duration,
    pub waiting: Duration,
}

fn read_schedstat(path: &std::path::Path) -> Option<ThreadTimes> {
    let sched = std::fs::read_to_string(path).ok()?;
    let mut fields = sched.split_whitespace().map(|v| v.parse::<u64>().ok());
    Some(ThreadTimes {
        on_cpu: Duration::from_nanos(fields.next()??),
        waiting: Duration::from_nanos(fields.next()??),
    })
}

/// Times of this process's threads whose name starts with `prefix`; None where `/proc` is
/// unavailable or no thread matches.
pub fn threads_times(prefix: &str) -> Option<ThreadTimes> {
    let mut total = ThreadTimes::default();
    let mut found = false;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(entry) = entry else { continue };
        let path = entry.path();
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !name.trim_end().starts_with(prefix) {
            continue;
        }
        if let Some(t) = read_schedstat(&path.join("schedstat")) {
            total.on_cpu += t.on_cpu;
            total.waiting += t.waiting;
            found = true;
        }
    }
    found.then_some(total)
}

/// Times of every thread of process `pid` (another process: a driver).
pub fn process_times(pid: u32) -> Option<ThreadTimes> {
    let mut total = ThreadTimes::default();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(entry) = entry else { continue };
        if let Some(t) = read_schedstat(&entry.path().join("schedstat")) {
            total.on_cpu += t.on_cpu;
            total.waiting += t.waiting;
        }
    }
    Some(total)
}

/// Times of the calling thread.
pub fn this_thread_times() -> Option<ThreadTimes> {
    read_schedstat(std::path::Path::new("/proc/thread-self/schedstat"))
}

/// CPU use over an interval as % of one core: on a CPU, and runnable but kept waiting.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    pub busy_pct: f64,
    pub waiting_pct: f64,
}

impl CpuUse {
    pub fn between(
        before: Option<ThreadTimes>,
        after: Option<ThreadTimes>,
        wall: Duration,
    ) -> Option<Self> {
        let (before, after) = (before?, after?);
        let wall = wall.as_secs_f64();
        Some(Self {
            busy_pct: after.on_cpu.saturating_sub(before.on_cpu).as_secs_f64() / wall * 100.0,
            waiting_pct: after.waiting.saturating_sub(before.waiting).as_secs_f64() / wall * 100.0,
        })
    }
}

/// Measures what the server's and the client's threads used over an interval.
pub struct CpuMeter {
    server: Option<ThreadTimes>,
    client: Option<ThreadTimes>,
    started: std::time::Instant,
}

pub const SERVER_THREAD: &str = "mockdc-server";
pub const CLIENT_THREAD: &str = "bench-client";

impl CpuMeter {
    pub fn start() -> Self {
        Self {
            server: threads_times(SERVER_THREAD),
            client: threads_times(CLIENT_THREAD),
            started: std::time::Instant::now(),
        }
    }

    /// (server, client) use since `start`.
    pub fn stop(&self) -> (Option<CpuUse>, Option<CpuUse>) {
        let wall = self.started.elapsed();
        (
            CpuUse::between(self.server, threads_times(SERVER_THREAD), wall),
            CpuUse::between(self.client, threads_times(CLIENT_THREAD), wall),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_the_median() {
        let s = Summary::of(&[5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
    }

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(quantile_us(&mut samples, 0.5), 50.0);
        assert_eq!(quantile_us(&mut samples, 0.99), 99.0);
    }

    #[test]
    fn this_thread_has_cpu_time_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(this_thread_times().is_some());
        }
    }
}
