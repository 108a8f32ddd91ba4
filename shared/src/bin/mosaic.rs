//! The `mosaic` command line: cogeo-mosaic's commands and options, plus `assets`.

use std::process::ExitCode;

use clap::Parser;
use mosaic::cli::{Cli, run};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print and succeed; usage errors are one line, exit 64.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // No command at all: clap would show the help, whose first line is the crate's
        // description, not what is wrong.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let commands: Vec<String> = <Cli as clap::CommandFactory>::command()
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| c.get_name().to_string())
                .collect();
            eprintln!(
                "Error: a command is required: {} (see `mosaic --help`)",
                commands.join(", ")
            );
            return ExitCode::from(64);
        }
        Err(e) => {
            // clap's first paragraph as one line: a message continued on the next lines
            // ("required arguments were not provided:" then the names) keeps its names.
            let text = e.to_string();
            let first = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            let first = if first.is_empty() {
                "invalid arguments"
            } else {
                first
            };
            eprintln!("Error: {first} (see `mosaic --help`)");
            return ExitCode::from(64);
        }
    };
    // The AWS SDK's configuration chain warns about each source it could not use (no
    // region from instance metadata, a provider without credentials) on its way to an
    // answer; a failure reaches the user in our one-line error (`RUST_LOG` shows them).
    mosaic::logging::init(if cli.quiet() {
        "error"
    } else {
        "warn,aws_config=error"
    });
    // GDAL's messages go to the log; failures reach the user in our one-line error.
    mosaic::gdal_log::install();
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
        // `mosaic … | head`: the reader has what it wanted.
        Err(e) if mosaic::cli::is_closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(e.exit_code().clamp(1, 255) as u8)
        }
    }
}
