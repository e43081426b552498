//! Task stats: the container's cgroup v1 counters as containerd's
//! `io.containerd.cgroups.v1.Metrics`, what `ctr task metrics` and the CRI stats decode.
//!
//! Read straight from the hierarchies the init process is in, with the meaning runc's
//! `libcontainer/cgroups/fs` gives each file (cpuacct times in nanoseconds, memory.stat keys
//! one to one). The containerd-shim library's collector parses cgroup v2 `cpu.stat` keys even on
//! v1, so it is not used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use containerd_shim::protos::cgroups::metrics::{
    CPUStat, CPUUsage, MemoryEntry, MemoryOomControl, MemoryStat, Metrics, PidsStat, Throttle,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::MessageField;

use crate::error::{Error, Result};

/// USER_HZ: cpuacct.stat counts in these ticks per second.
const CLOCK_TICKS: u64 = 100;

/// Metrics of the cgroups the init process `pid` lives in.
pub fn collect(pid: u32) -> Result<Any> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| Error::io(format!("reading /proc/{pid}/cgroup"), e))?;
    let dirs = v1_dirs(&text, Path::new("/sys/fs/cgroup"));
    if dirs.is_empty() {
        return Err(Error::Unsupported("stats on a cgroup v2-only host"));
    }
    let metrics = metrics_from(&dirs);
    Ok(containerd_shim::util::convert_to_any(Box::new(metrics))?)
}

/// Controller name → directory, for every v1 hierarchy listed in `/proc/<pid>/cgroup`.
fn v1_dirs(proc_cgroup: &str, root: &Path) -> HashMap<String, PathBuf> {
    let mut dirs = HashMap::new();
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            continue;
        }
        let rel = path.trim_start_matches('/');
        for controller in controllers.split(',') {
            // A hierarchy mounted at "cpu,cpuacct" also has the "cpu" and "cpuacct" links.
            let mount = root.join(controllers);
            let base = if mount.exists() {
                mount
            } else {
                root.join(controller)
            };
            dirs.insert(controller.to_owned(), base.join(rel));
        }
    }
    dirs
}

fn metrics_from(dirs: &HashMap<String, PathBuf>) -> Metrics {
    let mut metrics = Metrics::new();
    if let Some(dir) = dirs.get("pids") {
        metrics.pids = MessageField::some(PidsStat {
            current: read_u64(dir, "pids.current"),
            limit: read_u64(dir, "pids.max"),
            ..Default::default()
        });
    }
    if let Some(dir) = dirs.get("cpuacct") {
        let stat = read_flat(dir, "cpuacct.stat");
        let ns = |ticks: u64| ticks.saturating_mul(1_000_000_000 / CLOCK_TICKS);
        let per_cpu = std::fs::read_to_string(dir.join("cpuacct.usage_percpu"))
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let throttle = dirs
            .get("cpu")
            .map(|cpu| read_flat(cpu, "cpu.stat"))
            .unwrap_or_default();
        metrics.cpu = MessageField::some(CPUStat {
            usage: MessageField::some(CPUUsage {
                total: read_u64(dir, "cpuacct.usage"),
                kernel: ns(stat.get("system").copied().unwrap_or(0)),
                user: ns(stat.get("user").copied().unwrap_or(0)),
                per_cpu,
                ..Default::default()
            }),
            throttling: MessageField::some(Throttle {
                periods: throttle.get("nr_periods").copied().unwrap_or(0),
                throttled_periods: throttle.get("nr_throttled").copied().unwrap_or(0),
                throttled_time: throttle.get("throttled_time").copied().unwrap_or(0),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if let Some(dir) = dirs.get("memory") {
        metrics.memory = MessageField::some(memory(dir));
        let oom = read_flat(dir, "memory.oom_control");
        metrics.memory_oom_control = MessageField::some(MemoryOomControl {
            oom_kill_disable: oom.get("oom_kill_disable").copied().unwrap_or(0),
            under_oom: oom.get("under_oom").copied().unwrap_or(0),
            oom_kill: oom.get("oom_kill").copied().unwrap_or(0),
            ..Default::default()
        });
    }
    metrics
}

fn memory(dir: &Path) -> MemoryStat {
    let s = read_flat(dir, "memory.stat");
    let g = |k: &str| s.get(k).copied().unwrap_or(0);
    let entry = |prefix: &str| MemoryEntry {
        limit: read_u64(dir, &format!("{prefix}.limit_in_bytes")),
        usage: read_u64(dir, &format!("{prefix}.usage_in_bytes")),
        max: read_u64(dir, &format!("{prefix}.max_usage_in_bytes")),
        failcnt: read_u64(dir, &format!("{prefix}.failcnt")),
        ..Default::default()
    };
    MemoryStat {
        cache: g("cache"),
        rss: g("rss"),
        rss_huge: g("rss_huge"),
        mapped_file: g("mapped_file"),
        dirty: g("dirty"),
        writeback: g("writeback"),
        pg_pg_in: g("pgpgin"),
        pg_pg_out: g("pgpgout"),
        pg_fault: g("pgfault"),
        pg_maj_fault: g("pgmajfault"),
        inactive_anon: g("inactive_anon"),
        active_anon: g("active_anon"),
        inactive_file: g("inactive_file"),
        active_file: g("active_file"),
        unevictable: g("unevictable"),
        hierarchical_memory_limit: g("hierarchical_memory_limit"),
        hierarchical_swap_limit: g("hierarchical_memsw_limit"),
        total_cache: g("total_cache"),
        total_rss: g("total_rss"),
        total_rss_huge: g("total_rss_huge"),
        total_mapped_file: g("total_mapped_file"),
        total_dirty: g("total_dirty"),
        total_writeback: g("total_writeback"),
        total_pg_pg_in: g("total_pgpgin"),
        total_pg_pg_out: g("total_pgpgout"),
        total_pg_fault: g("total_pgfault"),
        total_pg_maj_fault: g("total_pgmajfault"),
        total_inactive_anon: g("total_inactive_anon"),
        total_active_anon: g("total_active_anon"),
        total_inactive_file: g("total_inactive_file"),
        total_active_file: g("total_active_file"),
        total_unevictable: g("total_unevictable"),
        usage: MessageField::some(entry("memory")),
        swap: MessageField::some(entry("memory.memsw")),
        kernel: MessageField::some(entry("memory.kmem")),
        kernel_tcp: MessageField::some(entry("memory.kmem.tcp")),
        ..Default::default()
    }
}

/// A single-number file; "max" (no limit) and missing files read as 0, as runc reports them.
fn read_u64(dir: &Path, file: &str) -> u64 {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// A "key value" per line file (memory.stat, cpu.stat, cpuacct.stat, memory.oom_control).
fn read_flat(dir: &Path, file: &str) -> HashMap<String, u64> {
    std::fs::read_to_string(dir.join(file))
        .map(|t| parse_flat(&t))
        .unwrap_or_default()
}

fn parse_flat(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            Some((key.to_owned(), value.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_files_parse_and_skip_garbage() {
        let map = parse_flat("cache 4096\nrss 8192\nbogus\nx notanumber\n");
        assert_eq!(map.get("cache"), Some(&4096));
        assert_eq!(map.get("rss"), Some(&8192));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn reads_a_fake_v1_tree() {
        let root = tempfile::tempdir().unwrap();
        let mem = root.path().join("memory/default/c1");
        let acct = root.path().join("cpu,cpuacct/default/c1");
        let pids = root.path().join("pids/default/c1");
        for d in [&mem, &acct, &pids] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(mem.join("memory.usage_in_bytes"), "1048576\n").unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "33554432\n").unwrap();
        std::fs::write(mem.join("memory.stat"), "rss 4096\ntotal_rss 4096\n").unwrap();
        std::fs::write(acct.join("cpuacct.usage"), "123456\n").unwrap();
        std::fs::write(acct.join("cpuacct.stat"), "user 2\nsystem 1\n").unwrap();
        std::fs::write(pids.join("pids.current"), "3\n").unwrap();
        std::fs::write(pids.join("pids.max"), "max\n").unwrap();
        let proc_cgroup =
            "5:memory:/default/c1\n4:cpu,cpuacct:/default/c1\n3:pids:/default/c1\n0::/\n";
        let dirs = v1_dirs(proc_cgroup, root.path());
        let m = metrics_from(&dirs);
        assert_eq!(m.memory.usage.usage, 1_048_576);
        assert_eq!(m.memory.usage.limit, 33_554_432);
        assert_eq!(m.memory.total_rss, 4096);
        assert_eq!(m.cpu.usage.total, 123_456);
        assert_eq!(m.cpu.usage.user, 20_000_000);
        assert_eq!(m.cpu.usage.kernel, 10_000_000);
        assert_eq!((m.pids.current, m.pids.limit), (3, 0));
    }
}
