//! `containerd-shim-rune-v2`: started by containerd for `--runtime io.containerd.rune.v2`.

use containerd_shim_rune_v2::service::Service;
use containerd_shim_rune_v2::RUNTIME_ID;

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| a == "-v" || a == "-version" || a == "--version")
    {
        println!("containerd-shim-rune-v2:");
        println!("  Version: {}", env!("CARGO_PKG_VERSION"));
        println!("  Revision: {}", env!("SHIM_GIT_COMMIT"));
        println!("  Runtime: {RUNTIME_ID}");
        return;
    }
    // The shim installs its own logger (see the logger module for why).
    let config = containerd_shim::Config {
        no_setup_logger: true,
        ..Default::default()
    };
    containerd_shim::run::<Service>(RUNTIME_ID, Some(config));
}
