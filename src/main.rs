//! The `kmirror` command: `kmirror mm2.properties [--clusters A B]` runs the
//! mirror from an unchanged MirrorMaker 2 file; `kmirror mirror-maker`
//! takes MirrorMaker 1's command line; `kmirror offsets translate`,
//! `kmirror failover` and `kmirror failback` move consumer groups and flows
//! between clusters (docs/failover.md); `kmirror verify` compares topics
//! with their mirrors record by record (docs/verify.md); `kmirror tune check`
//! and `kmirror tune bdp` tune the host and kmirror for a path.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use kmirror::logging::LogFormat;

use kmirror::cli::{self, FailbackArgs, FailoverArgs, MirrorArgs, TranslateArgs, VerifyArgs};

/// Counts allocations per thread, so workers can report what their data path
/// allocates (src/alloc_count.rs).
#[global_allocator]
static ALLOCATOR: kmirror::alloc_count::CountingAllocator = kmirror::alloc_count::CountingAllocator;

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
            // The demo and its Kafka harness are not in the shipped binary.
            kmirror::logging::say_error(
                "kmirror demo: the demo runs from a source checkout: cargo run --release -p kmirror-harness",
            );
            ExitCode::from(2)
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
        Some("mirror-maker") => {
            let mm = kmirror::cli::MirrorMakerArgs::parse_from(
                std::iter::once("kmirror mirror-maker".to_string())
                    .chain(args[2..].iter().cloned()),
            );
            let stop = Arc::new(AtomicBool::new(false));
            finish_mirror(cli::run_mirror_maker(&mm, stop), format)
        }
        Some("failover") => {
            let f = FailoverArgs::parse_from(
                std::iter::once("kmirror failover".to_string()).chain(args[2..].iter().cloned()),
            );
            print_table("kmirror failover", cli::failover(&f))
        }
        Some("tune") => tune(&args[2..]),
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

/// `kmirror tune check`: 0 when the host matches the profile, 1 when
/// something differs, 2 when it could not check (a usage or profile
/// error). `kmirror tune bdp`: 0, or 2 on a usage error.
fn tune(args: &[String]) -> ExitCode {
    let rest = || args.iter().skip(1).cloned();
    let result = match args.first().map(String::as_str) {
        Some("check") => {
            let c = kmirror::tune::CheckArgs::parse_from(
                std::iter::once("kmirror tune check".to_string()).chain(rest()),
            );
            kmirror::tune::run_check(&c).map(|(report, matches)| (report, u8::from(!matches)))
        }
        Some("bdp") => {
            let b = kmirror::tune::BdpArgs::parse_from(
                std::iter::once("kmirror tune bdp".to_string()).chain(rest()),
            );
            kmirror::tune::run_bdp(&b).map(|report| (report, 0))
        }
        _ => Err(cli::CliError::Usage(
            "expected `kmirror tune check [--profile NAME] [--config mm2.properties]` or \
             `kmirror tune bdp --rtt 80ms --bandwidth 10gbit [--rmem-max BYTES]`"
                .to_string(),
        )),
    };
    match result {
        Ok((report, code)) => {
            print!("{report}");
            ExitCode::from(code)
        }
        Err(e) => {
            kmirror::logging::say_error(&format!("kmirror tune: {e}"));
            ExitCode::from(2)
        }
    }
}

fn run_mirror(config: PathBuf, args: &MirrorArgs, format: LogFormat) -> ExitCode {
    let stop = Arc::new(AtomicBool::new(false));
    finish_mirror(cli::run_from_file(&config, args, stop), format)
}

/// Prints the summary of a mirror run (or its error) and picks the exit code.
fn finish_mirror(
    result: Result<kmirror::mirror::Summary, cli::CliError>,
    format: LogFormat,
) -> ExitCode {
    match result {
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
        Err(cli::CliError::Usage(e)) => {
            // As a configuration error: the command line or file asks for
            // what kmirror cannot do.
            kmirror::logging::say_error(&format!("kmirror: {e}"));
            ExitCode::from(2)
        }
        Err(e) => {
            kmirror::logging::say_error(&format!("kmirror: {e}"));
            ExitCode::from(1)
        }
    }
}
