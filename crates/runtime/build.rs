//! Records the git commit for `rune --version`.

include!("../../packaging/git_commit.rs");

fn main() {
    emit_git_commit("RUNE_GIT_COMMIT");
}
