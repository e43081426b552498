//! `rune list`.

use std::fs;
use std::io::ErrorKind;

use anyhow::{Context, Result};
use libcontainer::container::Container;

use crate::cli::{GlobalOpts, List, TableFormat};
use crate::state::{RuneRecord, StateView};

/// Lists the containers under the state root.
pub fn list(g: &GlobalOpts, args: &List) -> Result<i32> {
    let mut views = Vec::new();
    let entries = match fs::read_dir(&g.root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return print(args, &views);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("reading state root {}", g.root.display()))
        }
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading state root {}", g.root.display()))?;
        let dir = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') || !dir.join("state.json").exists()
        {
            continue;
        }
        // A container being deleted concurrently may vanish between the check and the load.
        let Ok(container) = Container::load(dir.clone()) else {
            continue;
        };
        let record = RuneRecord::load(container.bundle()).ok().flatten();
        views.push(StateView::of(&container, record.as_ref()));
    }
    views.sort_by(|a, b| a.id.cmp(&b.id));
    print(args, &views)
}

fn print(args: &List, views: &[StateView]) -> Result<i32> {
    if args.quiet {
        for v in views {
            println!("{}", v.id);
        }
        return Ok(0);
    }
    match args.format {
        TableFormat::Json => println!("{}", serde_json::to_string(views)?),
        TableFormat::Table => {
            println!(
                "{:<12} {:<10} {:<10} {:<40} {:<32} OWNER",
                "ID", "PID", "STATUS", "BUNDLE", "CREATED"
            );
            for v in views {
                println!(
                    "{:<12} {:<10} {:<10} {:<40} {:<32} {}",
                    v.id,
                    v.pid,
                    v.status,
                    v.bundle.display(),
                    v.created
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    if v.owner.is_empty() { "root" } else { &v.owner }
                );
            }
        }
    }
    Ok(0)
}
