//! The `mosaic` command line: cogeo-mosaic's commands and options, plus `assets`.

use std::process::ExitCode;

use clap::Parser;
use mosaic::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = Cli::parse();
    mosaic::cli::init_logging(if cli.quiet() { "error" } else { "warn" });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(e.exit_code().clamp(1, 255) as u8)
        }
    }
}
