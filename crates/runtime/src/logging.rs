//! Log output of `rune`, in runc's formats, and capture of errors logged by container processes.
//!
//! containerd and Docker read the `--log` file after a failed call and show the last
//! `{"level":"error","msg":...}` line to the user, so the JSON format is runc's, not tracing's.
//! libcontainer reports the precise cause of a failure (the mount, the errno) only as a log event,
//! often in the forked container process, and hands the caller a terse error. So error events also
//! go to an in-memory file shared with those children; [`first_captured_error`] reads it back.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::Registry;
use tracing_subscriber::{filter::LevelFilter, Layer};

use crate::cli::LogFormat;

static CAPTURE: OnceLock<Mutex<File>> = OnceLock::new();

/// Installs the global subscriber: `--log` (or stderr) in the chosen format, plus error capture.
///
/// Without `--log` and `--debug`, nothing but the final one-line error reaches stderr.
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> io::Result<()> {
    let level = if debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    };
    let sink: Option<Box<dyn Write + Send>> = match log {
        Some(path) => Some(Box::new(
            OpenOptions::new().create(true).append(true).open(path)?,
        )),
        None if debug => Some(Box::new(io::stderr())),
        None => None,
    };
    if let Ok(capture) = capture_file() {
        let _ = CAPTURE.set(Mutex::new(capture));
    }
    let writer = sink.map(|w| RuncFormat {
        out: Mutex::new(w),
        format,
        level,
    });
    let subscriber = Registry::default()
        .with(writer)
        .with(CaptureLayer.with_filter(LevelFilter::ERROR));
    tracing::subscriber::set_global_default(subscriber).map_err(io::Error::other)
}

fn capture_file() -> io::Result<File> {
    let fd = nix::sys::memfd::memfd_create(
        c"rune-errors",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(io::Error::from)?;
    Ok(File::from(fd))
}

/// The first error event logged by this process or a forked child since start, if any.
///
/// libcontainer logs the innermost failure first, so the first line is the most specific.
pub fn first_captured_error() -> Option<String> {
    let file = CAPTURE.get()?;
    let mut file = file.lock().ok()?;
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned)
}

/// Writes one error line to the capture file and the log, as a failure of rune itself.
pub fn log_failure(message: &str) {
    tracing::error!("{message}");
}

struct CaptureLayer;

impl<S: Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(file) = CAPTURE.get() else { return };
        let mut line = render_message(event);
        line.push('\n');
        if let Ok(mut file) = file.lock() {
            let _ = file.seek(SeekFrom::End(0));
            let _ = file.write_all(line.as_bytes());
        }
    }
}

struct RuncFormat {
    out: Mutex<Box<dyn Write + Send>>,
    format: LogFormat,
    level: LevelFilter,
}

impl<S: Subscriber> Layer<S> for RuncFormat {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > self.level {
            return;
        }
        let name = match level {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let msg = render_message(event);
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": name, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time={time:?} level={name} msg={msg:?}"),
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// The event's message followed by its fields as `key=value`.
fn render_message(event: &Event<'_>) -> String {
    let mut visitor = MessageVisitor::default();
    event.record(&mut visitor);
    let mut out = visitor.message;
    if !visitor.fields.is_empty() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&visitor.fields);
    }
    out
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.push_field(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.push_field(field, format_args!("{value:?}"));
        }
    }
}

impl MessageVisitor {
    fn push_field(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if !self.fields.is_empty() {
            self.fields.push(' ');
        }
        let _ = write!(self.fields, "{}={}", field.name(), value);
    }
}
