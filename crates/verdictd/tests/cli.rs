//! The binary's operator surface: `--version` names the commit, `--log-format json` writes one
//! JSON object per line, `completion` prints scripts.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn verdictd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_verdictd"))
}

#[test]
fn version_names_the_commit() {
    let out = verdictd().arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("verdictd "), "{text}");
    assert!(text.contains("\ncommit: "), "{text}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = verdictd()
        .args([
            "--log-format",
            "json",
            "--insecure-http",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut listening = None;
    while stderr.read_line(&mut line).unwrap() > 0 {
        let event: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if event["fields"]["message"] == "verdictd listening" {
            listening = Some(event);
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    let event = listening.expect("no 'verdictd listening' event");
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["fields"]["tls"], false);
}

#[test]
fn completion_scripts() {
    let out = verdictd().args(["completion", "bash"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("complete -F _verdictd"), "{script}");
    assert!(script.contains("--log-format"), "{script}");
}
