//! `rune update`.

use std::fs;
use std::io::Read;

use anyhow::{bail, Context, Result};
use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager, ControllerOpt};
use oci_spec::runtime::{LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxPidsBuilder, LinuxResources};

use crate::cli::{GlobalOpts, Update};
use crate::container;

/// Applies new resource limits to a container's cgroup.
pub fn update(g: &GlobalOpts, args: &Update) -> Result<i32> {
    if args.l3_cache_schema.is_some() || args.mem_bw_schema.is_some() {
        bail!("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by rune");
    }
    let resources = resources_from_args(args)?;
    let c = container::load(&g.root, &args.id)?;
    let config = c
        .spec()
        .with_context(|| format!("reading saved config of container {:?}", args.id))?;
    let manager = create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path.clone(),
        systemd_cgroup: c.systemd(),
        container_name: args.id.clone(),
    })
    .with_context(|| format!("opening cgroup {}", config.cgroup_path.display()))?;
    manager
        .apply(&ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .with_context(|| format!("updating resources of container {:?}", args.id))?;
    Ok(0)
}

fn resources_from_args(args: &Update) -> Result<LinuxResources> {
    let mut resources = match &args.resources {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading resources from stdin")?;
                s
            } else {
                fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
            };
            serde_json::from_str::<LinuxResources>(&text)
                .with_context(|| format!("invalid resources in {}", path.display()))?
        }
        None => LinuxResources::default(),
    };
    let mut memory = resources.memory().unwrap_or_default();
    let mut memory_set = resources.memory().is_some();
    if let Some(m) = &args.memory {
        memory.set_limit(Some(parse_bytes("--memory", m)?));
        memory_set = true;
    }
    if let Some(m) = &args.memory_reservation {
        memory.set_reservation(Some(parse_bytes("--memory-reservation", m)?));
        memory_set = true;
    }
    if let Some(m) = &args.memory_swap {
        memory.set_swap(Some(parse_bytes("--memory-swap", m)?));
        memory_set = true;
    }
    if memory_set {
        resources.set_memory(Some(memory));
    }
    let cpu_given = args.cpu_period.is_some()
        || args.cpu_quota.is_some()
        || args.cpu_share.is_some()
        || args.cpu_rt_period.is_some()
        || args.cpu_rt_runtime.is_some()
        || args.cpuset_cpus.is_some()
        || args.cpuset_mems.is_some();
    if cpu_given {
        let mut cpu = match resources.cpu().clone() {
            Some(cpu) => cpu,
            None => LinuxCpuBuilder::default().build()?,
        };
        if let Some(v) = args.cpu_period {
            cpu.set_period(Some(v));
        }
        if let Some(v) = args.cpu_quota {
            cpu.set_quota(Some(v));
        }
        if let Some(v) = args.cpu_share {
            cpu.set_shares(Some(v));
        }
        if let Some(v) = args.cpu_rt_period {
            cpu.set_realtime_period(Some(v));
        }
        if let Some(v) = args.cpu_rt_runtime {
            cpu.set_realtime_runtime(Some(v));
        }
        if let Some(v) = &args.cpuset_cpus {
            cpu.set_cpus(Some(v.clone()));
        }
        if let Some(v) = &args.cpuset_mems {
            cpu.set_mems(Some(v.clone()));
        }
        resources.set_cpu(Some(cpu));
    }
    if let Some(limit) = args.pids_limit {
        let limit = if limit == 0 { -1 } else { limit };
        resources.set_pids(Some(LinuxPidsBuilder::default().limit(limit).build()?));
    }
    if let Some(weight) = args.blkio_weight {
        resources.set_block_io(Some(LinuxBlockIoBuilder::default().weight(weight).build()?));
    }
    Ok(resources)
}

/// Parses a byte count as runc's units.RAMInBytes: plain bytes or a k/m/g/t suffix (binary), -1.
fn parse_bytes(flag: &str, text: &str) -> Result<i64> {
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b');
    let (digits, shift) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 40),
        _ => (trimmed, 0),
    };
    let n: i64 = digits.parse().with_context(|| {
        format!("invalid {flag} {text:?}: expected bytes, e.g. 64m or 1073741824")
    })?;
    n.checked_mul(1i64 << shift)
        .with_context(|| format!("invalid {flag} {text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_units() {
        assert_eq!(parse_bytes("--memory", "64m").unwrap(), 64 << 20);
        assert_eq!(parse_bytes("--memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("--memory", "4096").unwrap(), 4096);
        assert_eq!(parse_bytes("--memory", "-1").unwrap(), -1);
        let err = parse_bytes("--memory", "lots").unwrap_err().to_string();
        assert!(err.contains("invalid --memory \"lots\""), "{err}");
    }
}
