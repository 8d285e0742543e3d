//! What this machine can hold: CPU cores, memory (from `/proc/meminfo`) and whether a GPU is
//! present. Workers report it to the store and claim only jobs whose estimated proving memory
//! fits.

use std::path::Path;

use crate::store::WorkerCapability;

/// Total and available memory in bytes parsed from `/proc/meminfo` text (`MemTotal`,
/// `MemAvailable`, in kB). `None` when either line is missing or malformed.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let rest = line.strip_prefix(name)?.trim_start_matches(':').trim();
        let kb: u64 = rest
            .strip_suffix("kB")
            .unwrap_or(rest)
            .trim()
            .parse()
            .ok()?;
        kb.checked_mul(1024)
    };
    Some((field("MemTotal")?, field("MemAvailable")?))
}

/// Whether an NVIDIA GPU is visible (driver device node or procfs entry).
fn gpu_present() -> bool {
    Path::new("/dev/nvidia0").exists()
        || std::fs::read_dir("/proc/driver/nvidia/gpus")
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
}

/// The host name, or `worker` when it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// Reads this machine's capability now. Without `/proc/meminfo` (not Linux) memory is reported
/// as unlimited, so the worker is not starved by a missing reading. `memory_limit` caps what the
/// worker claims against (e.g. `--memory-mib`).
pub fn detect(memory_limit: Option<u64>) -> WorkerCapability {
    let (total, available) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo(&t))
        .unwrap_or((u64::MAX, u64::MAX));
    let cap = |v: u64| memory_limit.map_or(v, |l| v.min(l));
    WorkerCapability {
        hostname: hostname(),
        cpu_cores: std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1),
        memory_total_bytes: cap(total),
        memory_available_bytes: cap(available),
        gpu: gpu_present(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_parsed_in_bytes() {
        let text =
            "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20480000 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some((24_576_000 * 1024, 20_480_000 * 1024))
        );
        assert_eq!(parse_meminfo("MemTotal: 10 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: x kB\nMemAvailable: 5 kB\n"), None);
    }

    #[test]
    fn a_limit_caps_the_reported_memory() {
        let c = detect(Some(1 << 20));
        assert!(c.memory_available_bytes <= 1 << 20);
        assert!(c.memory_total_bytes <= 1 << 20);
        assert!(c.cpu_cores >= 1);
        assert!(!c.hostname.is_empty());
    }
}
