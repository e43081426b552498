//! Records the git commit for `verdictd --version`.

include!("../../packaging/git_commit.rs");

fn main() {
    emit_git_commit("VERDICTD_GIT_COMMIT");
}
