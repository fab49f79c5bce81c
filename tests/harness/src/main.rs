//! The demo: two local Kafka clusters, a stream, and kmirror mirroring it
//! with a live readout and a summary (see [`kmirror_harness::demo`]).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    kmirror::logging::init(kmirror::logging::LogFormat::Text);
    kmirror::cli::exit_on_panic();
    let args = kmirror_harness::demo::DemoArgs::parse();
    match kmirror_harness::demo::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            kmirror::logging::say_error(&format!("kmirror demo: {e}"));
            ExitCode::from(1)
        }
    }
}
