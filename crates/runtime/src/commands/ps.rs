//! `rune ps`.

use std::collections::HashSet;
use std::process::Command;

use anyhow::{bail, Context, Result};
use libcgroups::common::{create_cgroup_manager, CgroupConfig, CgroupManager};

use crate::cli::{GlobalOpts, Ps, TableFormat};
use crate::container;

/// Lists the processes in a container's cgroup: pids as JSON, or `ps` lines as a table.
pub fn ps(g: &GlobalOpts, args: &Ps) -> Result<i32> {
    let pids = container_pids(g, &args.id)?;
    match args.format {
        TableFormat::Json => println!("{}", serde_json::to_string(&pids)?),
        TableFormat::Table => print_table(&pids, &args.ps_options)?,
    }
    Ok(0)
}

/// The pids in container `id`'s cgroup, sorted.
pub fn container_pids(g: &GlobalOpts, id: &str) -> Result<Vec<i32>> {
    let c = container::load(&g.root, id)?;
    let config = c
        .spec()
        .with_context(|| format!("reading saved config of container {id:?}"))?;
    let manager = create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path.clone(),
        systemd_cgroup: c.systemd(),
        container_name: id.to_owned(),
    })
    .with_context(|| format!("opening cgroup {}", config.cgroup_path.display()))?;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .with_context(|| format!("reading pids of cgroup {}", config.cgroup_path.display()))?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Runs ps(1) like runc and keeps the header plus the lines of the container's pids.
fn print_table(pids: &[i32], options: &[String]) -> Result<()> {
    let options = if options.is_empty() {
        vec!["-ef".to_owned()]
    } else {
        options.to_vec()
    };
    let output = Command::new("ps")
        .args(&options)
        .output()
        .context("running ps")?;
    if !output.status.success() {
        bail!(
            "ps {} failed: {}",
            options.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    let wanted: HashSet<i32> = pids.iter().copied().collect();
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(pid_column)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| wanted.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
