use std::{io::Write, process::ExitCode};

use clap::Parser;
use comfy_table::{Table, presets::NOTHING};
use kubectl_ebpf::{
    catalogue,
    cli::{Cli, Command},
    completions,
    exit::{self, CliError},
    session,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cluster = cli.cluster;
    let result = match cli.command {
        Command::Trace(args) => block_on(session::trace(cluster, *args)),
        Command::List => block_on(kubectl_ebpf::cluster::list(cluster)),
        Command::Delete(args) => block_on(kubectl_ebpf::cluster::delete(cluster, args)),
        Command::Probes => print_probes(),
        Command::Completion { shell } => {
            let _ = std::io::stdout().write_all(&completions::generate(shell));
            Ok(exit::SUCCESS)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.code)
        }
    }
}

fn block_on(work: impl Future<Output = Result<u8, CliError>>) -> Result<u8, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::failure(format!("cannot start the runtime: {err}"), ""))
        .and_then(|runtime| runtime.block_on(work))
}

fn print_probes() -> Result<u8, CliError> {
    let mut table = Table::new();
    table.load_style(NOTHING);
    table.set_header(["PROBE", "KIND", "WHAT IT SHOWS", "HOOKS"]);
    for probe in catalogue::PROBES {
        table.add_row([probe.name, probe.kind.as_str(), probe.summary, probe.hooks]);
    }
    println!("{table}");
    Ok(exit::SUCCESS)
}
