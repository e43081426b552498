//! The shim binary's version flag (containerd runs `containerd-shim-rune-v2 -v`). Having an
//! integration test here also makes `cargo test` build the binary that tests/containerd.rs uses.

use std::process::Command;

#[test]
fn version_flag_prints_the_runtime_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_containerd-shim-rune-v2"))
        .arg("-v")
        .output()
        .expect("running the shim");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("containerd-shim-rune-v2"), "{text}");
    let revision = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Revision: "))
        .unwrap_or_else(|| panic!("no Revision line: {text}"));
    assert!(!revision.is_empty(), "{text}");
}
