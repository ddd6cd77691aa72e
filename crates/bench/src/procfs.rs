//! What the kernel says about a process (`/proc/PID/…`): CPU time, memory,
//! the CPUs it may run on; and pinning a child to chosen CPUs, so a server's
//! CPU is not shared with the load generator driving it.

use std::process::Command;

use serde_json::{json, Value};

/// User + system CPU seconds `pid` has used so far, every thread counted
/// (utime and stime of /proc/PID/stat); `None` once it is gone.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat_ticks(&stat)? / clock_ticks_per_second())
}

/// utime + stime, in clock ticks, of one /proc/PID/stat line.
fn stat_ticks(stat: &str) -> Option<f64> {
    // The command name, in parentheses, may hold spaces: count the fields
    // after its closing one. utime and stime are fields 14 and 15 of the
    // line, 12 and 13 after the name.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// Resident memory of a process, KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: the most it has been resident.
    pub hwm_kib: u64,
}

/// VmRSS and VmHWM of `pid` (/proc/PID/status).
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Memory {
        rss_kib: status_kib(&status, "VmRSS:")?,
        hwm_kib: status_kib(&status, "VmHWM:")?,
    })
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The CPUs `pid` may run on, as the kernel lists them ("1", "0-1").
pub fn cpus_allowed(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Value {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    json!(v)
}

/// Which CPUs the server and the load generator get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinning {
    /// The server's CPU: the last one this process may use.
    pub server: Vec<usize>,
    /// The load generator's: every other one.
    pub load: Vec<usize>,
}

impl Pinning {
    /// Splits the CPUs this process may run on, or says why it cannot.
    pub fn split() -> Result<Pinning, String> {
        Pinning::from_allowed(&allowed_cpus()?)
    }

    fn from_allowed(allowed: &[usize]) -> Result<Pinning, String> {
        match allowed {
            [load @ .., server] if !load.is_empty() => Ok(Pinning {
                server: vec![*server],
                load: load.to_vec(),
            }),
            _ => Err(format!(
                "this process may use {} CPU(s): nothing to split",
                allowed.len()
            )),
        }
    }
}

/// The CPUs this process may run on (sched_getaffinity).
fn allowed_cpus() -> Result<Vec<usize>, String> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // writes at most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(format!(
                "sched_getaffinity: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect())
    }
}

/// Makes `cmd`'s process run only on `cpus` (what `taskset -c` does, without
/// needing util-linux): the affinity is set in the child before it execs,
/// so the program never runs anywhere else.
pub fn pin(cmd: &mut Command, cpus: &[usize]) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: a zeroed cpu_set_t is a valid empty set and CPU_SET only
    // writes inside it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    };
    // SAFETY: the closure runs in the forked child before exec and only
    // makes one system call, which is async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_name_with_spaces() {
        let line =
            "1234 (node worker (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 11 0";
        assert_eq!(stat_ticks(line), Some(325.0));
        assert_eq!(stat_ticks("garbage"), None);
    }

    #[test]
    fn status_lines_in_kib() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn the_server_gets_the_last_cpu() {
        assert_eq!(
            Pinning::from_allowed(&[0, 1]),
            Ok(Pinning {
                server: vec![1],
                load: vec![0]
            })
        );
        assert_eq!(
            Pinning::from_allowed(&[0, 2, 3]).map(|p| (p.server, p.load)),
            Ok((vec![3], vec![0, 2]))
        );
        assert!(Pinning::from_allowed(&[0]).is_err());
    }

    #[test]
    fn a_pinned_child_runs_only_on_its_cpu() {
        let Ok(pinning) = Pinning::split() else {
            return; // one CPU: nothing to pin apart
        };
        let mut cmd = Command::new("sleep");
        cmd.arg("5");
        pin(&mut cmd, &pinning.server);
        let mut child = cmd.spawn().unwrap();
        let allowed = cpus_allowed(child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(allowed, Some(pinning.server[0].to_string()));
    }

    #[test]
    fn this_process_uses_some_cpu_and_memory() {
        let me = std::process::id();
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        assert!(cpu_seconds(me).unwrap() > 0.0);
        let m = memory(me).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }
}
