//! The shim's log: logrus-style lines into the `log` fifo containerd reads from the bundle of the
//! shim's first container (server mode), or to stderr (the `delete` action, whose stderr
//! containerd logs as cleanup warnings).
//!
//! The containerd-shim library's own fifo logger is not used: once containerd stops reading that
//! fifo (the first container of a pod shim was deleted), each write raised SIGPIPE, the library's
//! signal thread logged "received SIGPIPE", whose write raised SIGPIPE again: a busy loop. Here a
//! single writer thread blocks SIGPIPE, so a write to a fifo nobody reads just fails with EPIPE
//! and the line is dropped; when containerd opens the fifo again (after a restart), lines flow
//! again on the same descriptor.

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::SystemTime;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Lines waiting for the writer; beyond this, lines are dropped rather than blocking a request.
const QUEUE: usize = 1024;

/// Where the log goes.
#[derive(Debug, Clone, Copy)]
pub enum Sink {
    /// The `log` fifo in the current directory (the bundle).
    Fifo,
    /// Standard error.
    Stderr,
}

struct Logger {
    tx: Mutex<SyncSender<String>>,
    level: LevelFilter,
}

/// Installs the logger; `debug` lowers the level from info to debug.
pub fn init(sink: Sink, debug: bool) {
    let (tx, rx) = sync_channel::<String>(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("log".into())
        .spawn(move || {
            let mut set = nix::sys::signal::SigSet::empty();
            set.add(nix::sys::signal::Signal::SIGPIPE);
            let _ = nix::sys::signal::pthread_sigmask(
                nix::sys::signal::SigmaskHow::SIG_BLOCK,
                Some(&set),
                None,
            );
            let mut out: Box<dyn Write> = match sink {
                // Blocks until containerd has the reading end open, as runc's shim does.
                Sink::Fifo => match std::fs::OpenOptions::new().write(true).open("log") {
                    Ok(f) => Box::new(f),
                    Err(_) => Box::new(std::io::sink()),
                },
                Sink::Stderr => Box::new(std::io::stderr()),
            };
            while let Ok(line) = rx.recv() {
                let _ = out.write_all(line.as_bytes());
            }
        });
    if spawned.is_err() {
        return;
    }
    let level = if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    let logger = Logger {
        tx: Mutex::new(tx),
        level,
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(
            SystemTime::now(),
            record.level(),
            &record.args().to_string(),
        );
        if let Ok(tx) = self.tx.lock() {
            if let Err(TrySendError::Full(_)) = tx.try_send(line) {
                // Dropped: containerd is not reading and the queue is full.
            }
        }
    }

    fn flush(&self) {}
}

fn format_line(at: SystemTime, level: Level, message: &str) -> String {
    let level = match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    };
    let escaped = message
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!(
        "time=\"{}\" level={level} msg=\"{escaped}\" runtime={}\n",
        rfc3339(at),
        crate::RUNTIME_ID
    )
}

/// UTC RFC 3339 with microseconds (civil-from-days, Howard Hinnant's algorithm).
fn rfc3339(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_dates() {
        let at = SystemTime::UNIX_EPOCH + Duration::new(0, 0);
        assert_eq!(rfc3339(at), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T12:34:56.789Z (a leap day).
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_709_210_096, 789_000_000);
        assert_eq!(rfc3339(at), "2024-02-29T12:34:56.789000Z");
    }

    #[test]
    fn lines_are_logrus_shaped_and_escaped() {
        let line = format_line(SystemTime::UNIX_EPOCH, Level::Warn, "a \"b\"\nc");
        assert_eq!(
            line,
            "time=\"1970-01-01T00:00:00.000000Z\" level=warning msg=\"a \\\"b\\\"\\nc\" runtime=io.containerd.rune.v2\n"
        );
    }
}
