//! Records the git commit for `containerd-shim-rune-v2 -v`.

include!("../../packaging/git_commit.rs");

fn main() {
    emit_git_commit("SHIM_GIT_COMMIT");
}
