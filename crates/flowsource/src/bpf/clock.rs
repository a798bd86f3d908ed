//! The clock Cilium's datapath writes `lifetime` (and `last_*_report`) in, so podflow can tell
//! which entries have already expired (still in the map until Cilium's GC removes them).
//!
//! - `ktime` (default): `bpf_ktime_get_ns() / 1e9`, CLOCK_MONOTONIC seconds as a u32.
//! - `jiffies` (`--enable-bpf-clock-probe` on kernels with HZ ≠ 1): `jiffies >> 8`
//!   (BPF_MONO_SCALER). The current jiffies come from `/proc/schedstat`'s `timestamp` line
//!   (kernels with CONFIG_SCHEDSTATS), else from `/proc/timer_list`'s `jiffies:` line (needs
//!   root), and must be scaled by the same `>> 8` before comparing (egressd forgot the scaling).

use std::ffi::c_int;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    Ktime,
    Jiffies,
}

impl ClockSource {
    pub fn parse(s: &str) -> Result<ClockSource, String> {
        match s {
            "ktime" => Ok(ClockSource::Ktime),
            "jiffies" => Ok(ClockSource::Jiffies),
            _ => Err(format!("clock_source must be ktime or jiffies, not {s:?}")),
        }
    }
}

/// Cilium's BPF_MONO_SCALER for the jiffies clock.
pub const JIFFIES_SHIFT: u32 = 8;

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
}

const CLOCK_MONOTONIC: c_int = 1;

pub fn monotonic_seconds() -> u64 {
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-parameter.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64
}

/// The `timestamp <jiffies>` line of /proc/schedstat.
pub fn parse_schedstat_jiffies(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix("timestamp ")).and_then(|v| v.trim().parse().ok())
}

/// The first `jiffies: <n>` line of /proc/timer_list.
pub fn parse_timer_list_jiffies(text: &str) -> Option<u64> {
    text.lines().find_map(|l| l.trim_start().strip_prefix("jiffies:")).and_then(|v| v.trim().parse().ok())
}

/// The kernel's current jiffies: /proc/schedstat, else /proc/timer_list.
pub fn read_jiffies() -> Result<u64, String> {
    let schedstat = std::fs::read_to_string("/proc/schedstat");
    if let Some(j) = schedstat.as_deref().ok().and_then(parse_schedstat_jiffies) {
        return Ok(j);
    }
    let timer_list = std::fs::read_to_string("/proc/timer_list");
    if let Some(j) = timer_list.as_deref().ok().and_then(parse_timer_list_jiffies) {
        return Ok(j);
    }
    let why = |r: &std::io::Result<String>| match r {
        Ok(_) => "no jiffies in it".to_string(),
        Err(e) => e.to_string(),
    };
    Err(format!(
        "clock_source jiffies: cannot read the kernel's jiffies (/proc/schedstat: {}; /proc/timer_list: {})",
        why(&schedstat),
        why(&timer_list)
    ))
}

impl ClockSource {
    /// "Now" in the units the datapath writes `lifetime` in (truncated to u32 as it is).
    pub fn now(self) -> Result<u32, String> {
        match self {
            ClockSource::Ktime => Ok(monotonic_seconds() as u32),
            ClockSource::Jiffies => Ok((read_jiffies()? >> JIFFIES_SHIFT) as u32),
        }
    }
}

/// True when an entry's `lifetime` is in the past (wrapping u32 comparison, as the GC's).
pub fn expired(lifetime: u32, now: u32) -> bool {
    (lifetime.wrapping_sub(now) as i32) < 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_timestamp() {
        let text = "version 15\ntimestamp 4295123456\ncpu0 0 0 0 0 0 0 1 2 3\n";
        assert_eq!(parse_schedstat_jiffies(text), Some(4_295_123_456));
        assert_eq!(parse_schedstat_jiffies("version 15\n"), None);
    }

    #[test]
    fn timer_list_jiffies() {
        let text = "Timer List Version: v0.9\nnow at 1 nsecs\n  .idle_jiffies   : 7\njiffies: 4295201028\n";
        assert_eq!(parse_timer_list_jiffies(text), Some(4_295_201_028));
    }

    #[test]
    fn jiffies_now_is_scaled_like_the_datapath() {
        let Ok(raw) = read_jiffies() else { return }; // unprivileged, no schedstats: nothing to compare
        let now = ClockSource::Jiffies.now().unwrap() as u64;
        // Read after `raw`: equal or a tick later, once scaled by >> 8.
        assert!(now >= (raw >> 8) && now <= (raw >> 8) + 1, "{now} vs {raw}");
    }

    #[test]
    fn expiry_comparison() {
        assert!(expired(99, 100));
        assert!(!expired(100, 100));
        assert!(!expired(160, 100));
        // Across the u32 wrap: a lifetime just past the wrap is still in the future.
        assert!(!expired(5, u32::MAX - 5));
        assert!(expired(u32::MAX - 5, 5));
        let now = ClockSource::Ktime.now().unwrap();
        assert!(now > 0 && !expired(now + 60, now));
    }
}
