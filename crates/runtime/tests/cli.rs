//! The `rune` binary's command line, without containers (no root needed). Having an integration
//! test here also makes `cargo test` build the `rune` binary that the root-only suites in
//! `tests/` drive.

use std::process::Command;

fn rune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rune"))
        .args(args)
        .output()
        .expect("running rune")
}

#[test]
fn version_names_the_commit_and_spec() {
    let out = rune(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("rune "), "{text}");
    assert!(text.contains("\ncommit: "), "{text}");
    assert!(text.contains("\nspec: "), "{text}");
}

#[test]
fn unknown_subcommand_fails() {
    let out = rune(&["frobnicate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
}
