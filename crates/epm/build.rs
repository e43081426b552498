//! Records the git commit for `epm --version`.

include!("../../packaging/git_commit.rs");

fn main() {
    emit_git_commit("EPM_GIT_COMMIT");
}
