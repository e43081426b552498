// The git commit for `--version`, shared by the binaries' build scripts through `include!`
// (a build script cannot depend on a workspace crate that is built for the target).

fn git(args: &[&str]) -> Option<String> {
    std::process::Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// Sets the compile-time variable `var` to the short commit of HEAD ("unknown" outside git),
/// and reruns when HEAD moves.
fn emit_git_commit(var: &str) {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env={var}={commit}");
    // In a git worktree `.git` is a file; HEAD and the refs live in the (common) git dir.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let Some(dir) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        println!("cargo:rerun-if-changed={dir}/refs/heads");
        // A rerun-if-changed path that does not exist reruns the script on every build.
        if std::path::Path::new(&format!("{dir}/packed-refs")).exists() {
            println!("cargo:rerun-if-changed={dir}/packed-refs");
        }
    }
}
