//! `rune events`.

use anyhow::{bail, Context, Result};

use crate::cli::{Events, GlobalOpts};
use crate::container;

/// Prints resource statistics once (`--stats`) or every interval.
pub fn events(g: &GlobalOpts, args: &Events) -> Result<i32> {
    let interval = parse_interval_secs(&args.interval)?;
    let mut c = container::load(&g.root, &args.id)?;
    c.events(interval, args.stats)
        .with_context(|| format!("reading events of container {:?}", args.id))?;
    Ok(0)
}

/// Parses Go-style durations as runc accepts them (`5s`, `1m`, `500ms`), rounded up to seconds.
fn parse_interval_secs(text: &str) -> Result<u32> {
    let invalid =
        || anyhow::anyhow!("invalid --interval {text:?}: expected a duration like 5s, 1m or 500ms");
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000)
    } else {
        return Err(invalid());
    };
    let n: u64 = number.parse().map_err(|_| invalid())?;
    let secs = (n * unit_ms).div_ceil(1000);
    if secs == 0 {
        bail!("invalid --interval {text:?}: must be positive");
    }
    u32::try_from(secs).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval_secs("5s").unwrap(), 5);
        assert_eq!(parse_interval_secs("1m").unwrap(), 60);
        assert_eq!(parse_interval_secs("500ms").unwrap(), 1);
        assert!(parse_interval_secs("5").is_err());
        assert!(parse_interval_secs("0s").is_err());
    }
}
