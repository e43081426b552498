//! One module per `rune` subcommand. Each returns the process exit code.

pub mod attest;
pub mod check;
pub mod completion;
pub mod create;
pub mod delete;
pub mod enclave;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    match cli.command {
        Command::Create(args) => create::create(g, &args.opts),
        Command::Run(args) => create::run(g, &args),
        Command::Start(args) => start::start(g, &args.id),
        Command::State(args) => state::state(g, &args.id),
        Command::Kill(args) => kill::kill(g, &args),
        Command::Delete(args) => delete::delete(g, &args),
        Command::List(args) => list::list(g, &args),
        Command::Exec(args) => exec::exec(g, &args),
        Command::Ps(args) => ps::ps(g, &args),
        Command::Pause(args) => pause::pause(g, &args.id),
        Command::Resume(args) => pause::resume(g, &args.id),
        Command::Events(args) => events::events(g, &args),
        Command::Spec(args) => spec::spec(g, &args),
        Command::Features => features::features(),
        Command::Update(args) => update::update(g, &args),
        Command::Enclave(cmd) => enclave::dispatch(&cmd),
        Command::Attest(args) => attest::attest(g, &args),
        Command::Checkpoint(_) => {
            anyhow::bail!("checkpoint is not supported by rune (no CRIU integration)")
        }
        Command::Restore(_) => {
            anyhow::bail!("restore is not supported by rune (no CRIU integration)")
        }
        Command::Check(args) => check::check(&args),
        Command::Completion(args) => completion::completion(args.shell),
    }
}
