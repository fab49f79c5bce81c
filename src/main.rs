//! The `kmirror` command: `kmirror mm2.properties [--clusters A B]` runs the
//! mirror from an unchanged MirrorMaker 2 file; `kmirror demo` runs the
//! embedded demo on two local Kafka clusters; `kmirror offsets translate`,
//! `kmirror failover` and `kmirror failback` move consumer groups and flows
//! between clusters (docs/failover.md); `kmirror verify` compares topics
//! with their mirrors record by record (docs/verify.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use kmirror::logging::LogFormat;

use kmirror::cli::{
    self, DemoArgs, FailbackArgs, FailoverArgs, MirrorArgs, TranslateArgs, VerifyArgs,
};

fn main() -> ExitCode {
    let all: Vec<String> = std::env::args().collect();
    let (format, args) = match kmirror::logging::take_log_format(&all) {
        Ok((format, rest)) => {
            kmirror::logging::init(format);
            (format, rest)
        }
        Err(e) => {
            eprintln!("kmirror: {e}");
            return ExitCode::from(2);
        }
    };
    cli::exit_on_panic();
    match args.get(1).map(String::as_str) {
        Some("demo") => {
            let demo = DemoArgs::parse_from(
                std::iter::once("kmirror demo".to_string()).chain(args[2..].iter().cloned()),
            );
            match kmirror::demo::run(&demo) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    kmirror::logging::say_error(&format!("kmirror demo: {e}"));
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
        Some("status") => {
            let s = kmirror::status::StatusArgs::parse_from(
                std::iter::once("kmirror status".to_string()).chain(args[2..].iter().cloned()),
            );
            match kmirror::status::run(&s) {
                Ok(code) => ExitCode::from(code),
                Err(cli::CliError::Config(e)) => {
                    kmirror::logging::say_error(&format!("kmirror: configuration error: {e}"));
                    ExitCode::from(e.exit_code() as u8)
                }
                Err(e) => {
                    kmirror::logging::say_error(&format!("kmirror status: {e}"));
                    ExitCode::from(1)
                }
            }
        }
        Some("verify") => {
            let v = VerifyArgs::parse_from(
                std::iter::once("kmirror verify".to_string()).chain(args[2..].iter().cloned()),
            );
            verify(&v)
        }
        Some("failover") => {
            let f = FailoverArgs::parse_from(
                std::iter::once("kmirror failover".to_string()).chain(args[2..].iter().cloned()),
            );
            print_table("kmirror failover", cli::failover(&f))
        }
        _ => {
            let m = MirrorArgs::parse_from(args.iter().cloned());
            run_mirror(m.config.clone(), &m, format)
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
            kmirror::logging::say_error(&format!("kmirror: configuration error: {e}"));
            ExitCode::from(e.exit_code() as u8)
        }
        Err(e) => {
            kmirror::logging::say_error(&format!("{command}: {e}"));
            ExitCode::from(1)
        }
    }
}

/// `kmirror verify`: 0 when every partition is identical, 1 when one
/// differs, 2 when the check could not be made (as cmp(1) and diff(1)).
fn verify(args: &VerifyArgs) -> ExitCode {
    match kmirror::verify::run(args) {
        Ok(kmirror::verify::Verdict::Identical) => ExitCode::SUCCESS,
        Ok(kmirror::verify::Verdict::Differs) => ExitCode::from(1),
        Err(cli::CliError::Config(e)) => {
            kmirror::logging::say_error(&format!("kmirror: configuration error: {e}"));
            ExitCode::from(e.exit_code() as u8)
        }
        Err(e) => {
            kmirror::logging::say_error(&format!("kmirror verify: {e}"));
            ExitCode::from(kmirror::verify::EXIT_TROUBLE)
        }
    }
}

fn run_mirror(config: PathBuf, args: &MirrorArgs, format: LogFormat) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    match cli::run_from_file(&config, args, stop) {
        Ok(summary) => {
            match format {
                LogFormat::Text => eprintln!("{}", summary.render()),
                // One more JSON line, so that every line on stderr parses.
                LogFormat::Json => tracing::info!(
                    records = summary.counts.records,
                    bytes = summary.counts.bytes,
                    failed_partitions = summary.failures.len(),
                    "{}",
                    summary.render()
                ),
            }
            if !summary.stopped_flows.is_empty() {
                ExitCode::from(5)
            } else if summary.failures.is_empty() && summary.refused.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(cli::CliError::Config(e)) => {
            kmirror::logging::say_error(&format!("kmirror: configuration error: {e}"));
            ExitCode::from(e.exit_code() as u8)
        }
        Err(e) => {
            kmirror::logging::say_error(&format!("kmirror: {e}"));
            ExitCode::from(1)
        }
    }
}
