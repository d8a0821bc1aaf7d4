//! Time and host identity as records carry them.

use logkeep_format::Host;
use std::time::SystemTime;

/// Wall-clock time, RFC 3339 UTC with nanoseconds.
pub fn wall_at(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// Wall-clock time now.
pub fn wall_now() -> String {
    wall_at(SystemTime::now())
}

/// Seconds since the epoch (0 for times before it).
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Nanoseconds since boot, counting suspend (CLOCK_BOOTTIME).
pub fn boot_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The identity of this machine and boot.
pub fn host() -> Host {
    Host {
        hostname: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        machine_id: read_trim("/etc/machine-id"),
        boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
    }
}
