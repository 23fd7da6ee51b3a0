use std::{io::Write, process::ExitCode};

use clap::Parser;
use kubectl_ebpf::{
    cli::{Cli, Command},
    color, completions,
    exit::{self, CliError},
    probe_list, rbac, render, scripts, session,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    color::init_stdout();
    render::set_no_headers(cli.no_headers);
    let cluster = cli.cluster;
    let result = match cli.command {
        Command::Trace(args) => {
            if let Some(column) = &args.sort {
                render::set_sort(column);
            }
            render::set_side_by_side(args.side_by_side);
            block_on(session::trace(cluster, *args))
        }
        Command::Profile(args) => block_on(session::profile(cluster, *args)),
        Command::Programs(args) => block_on(session::programs(cluster, *args)),
        Command::Run(args) => match scripts::prepare(*args) {
            Ok(scripts::Prepared::Trace(run)) => block_on(session::trace(cluster, *run)),
            Ok(scripts::Prepared::Exit(code)) => Ok(code),
            Err(err) => Err(err),
        },
        Command::List(args) => block_on(kubectl_ebpf::cluster::list(cluster, args)),
        Command::Delete(args) => block_on(kubectl_ebpf::cluster::delete(cluster, args)),
        Command::Probes(args) => probe_list::run(&args),
        Command::Rbac(args) => rbac::run(&cluster, &args),
        Command::Scripts(args) => scripts::list(&args),
        Command::Version(args) => block_on(kubectl_ebpf::version::run(cluster, args)),
        Command::Completion { shell } => {
            let _ = std::io::stdout().write_all(&completions::generate(shell));
            Ok(exit::SUCCESS)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("{} {err}", color::error_label());
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
