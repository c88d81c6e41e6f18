//! What the kernel says about CPU and memory: our own CPU time (getrusage)
//! and, for `--broker-pid`, the broker's CPU time and RSS from /proc.

use std::time::Duration;

/// User + system CPU time this process has used so far.
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Cores this process may run on (affinity and cgroup quota respected).
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// One reading of another process's accounting.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime.
    pub cpu: Duration,
    pub rss_kb: u64,
    pub hwm_kb: u64,
}

/// Read /proc/PID/stat (utime, stime) and /proc/PID/status (VmRSS, VmHWM).
pub fn proc_sample(pid: u32) -> anyhow::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; fields after its ')' are
    // plain. utime and stime are fields 14 and 15, i.e. 12th and 13th after.
    let rest = stat
        .rsplit_once(')')
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat"))?
        .1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        Ok(f.get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
            .parse()?)
    };
    let total = ticks(11)? + ticks(12)?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let cpu = Duration::from_nanos(total * 1_000_000_000 / hz);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu,
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_proc_entries() {
        let s = super::proc_sample(std::process::id()).unwrap();
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
        let _ = super::self_cpu();
    }
}
