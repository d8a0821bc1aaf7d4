//! Host identity and the boot clock as records carry them. Wall-clock times are
//! [`logkeep_format::Timestamp`]s, written into records as their RFC 3339 strings.

use logkeep_format::Host;

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
