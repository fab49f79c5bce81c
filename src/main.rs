//! The `kmirror` command: `kmirror mm2.properties [--clusters A B]` runs the
//! mirror from an unchanged MirrorMaker 2 file; `kmirror demo` runs the
//! embedded demo on two local Kafka clusters; `kmirror offsets translate`,
//! `kmirror failover` and `kmirror failback` move consumer groups and flows
//! between clusters (docs/failover.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;

use kmirror::cli::{self, DemoArgs, FailbackArgs, FailoverArgs, MirrorArgs, TranslateArgs};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    cli::init_logging();
    cli::exit_on_panic();
    match args.get(1).map(String::as_str) {
        Some("demo") => {
            let demo = DemoArgs::parse_from(
                std::iter::once("kmirror demo".to_string()).chain(args[2..].iter().cloned()),
            );
            match kmirror::demo::run(&demo) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("kmirror demo: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Some("offsets") if args.get(2).map(String::as_str) == Some("translate") => {
            let t = TranslateArgs::parse_from(
                std::iter::once("kmirror offsets translate".to_string())
                    .chain(args[3..].iter().cloned()),
            );
            print_table("kmirror offsets translate", cli::translate_offsets(&t))
        }
        Some("failback") => {
            let f = FailbackArgs::parse_from(
                std::iter::once("kmirror failback".to_string()).chain(args[2..].iter().cloned()),
            );
            print_table("kmirror failback", cli::failback(&f))
        }
        Some("failover") => {
            let f = FailoverArgs::parse_from(
                std::iter::once("kmirror failover".to_string()).chain(args[2..].iter().cloned()),
            );
            print_table("kmirror failover", cli::failover(&f))
        }
        _ => {
            let m = MirrorArgs::parse();
            run_mirror(m.config.clone(), &m)
        }
    }
}

/// Prints a command's table, or its error with the exit code it calls for.
fn print_table(command: &str, result: Result<String, cli::CliError>) -> ExitCode {
    match result {
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(cli::CliError::Config(e)) => {
            eprintln!("kmirror: configuration error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
        Err(e) => {
            eprintln!("{command}: {e}");
            ExitCode::from(1)
        }
    }
}

fn run_mirror(config: PathBuf, args: &MirrorArgs) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    match cli::run_from_file(&config, args, stop) {
        Ok(summary) => {
            eprintln!("{}", summary.render());
            if !summary.stopped_flows.is_empty() {
                ExitCode::from(5)
            } else if summary.failures.is_empty() && summary.refused.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(cli::CliError::Config(e)) => {
            eprintln!("kmirror: configuration error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
        Err(e) => {
            eprintln!("kmirror: {e}");
            ExitCode::from(1)
        }
    }
}
