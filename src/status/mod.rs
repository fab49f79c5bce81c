//! `kmirror status`: a running kmirror as a table, refreshed in place in a
//! terminal, printed once (`--once`) or as JSON (`--json`) for scripts.
//! It reads only kmirror's metrics endpoint, so it never touches a
//! cluster or slows the mirror down.

pub mod scrape;
pub mod table;
pub mod view;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use crate::cli::CliError;
use crate::config::MirrorConfig;
use view::View;

/// Where kmirror's endpoint listens unless the file says otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9408";

/// `kmirror status`
#[derive(Debug, clap::Parser, Clone)]
#[command(
    name = "kmirror status",
    about = "Shows a running kmirror's flows and partitions, worst first, from its metrics endpoint"
)]
pub struct StatusArgs {
    /// The endpoint (host:port), or the mm2.properties kmirror runs with
    /// (its kmirror.metrics.address is used). Default: 127.0.0.1:9408.
    pub endpoint: Option<String>,
    /// Print the table once and exit (0 healthy, 2 unhealthy or not ready, 1 unreachable).
    #[arg(long)]
    pub once: bool,
    /// Print one JSON document and exit (exit status as --once).
    #[arg(long)]
    pub json: bool,
    /// Seconds between refreshes of the live view.
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
    /// Partition rows shown (default: all with --once, what fits the terminal live).
    #[arg(long)]
    pub top: Option<usize>,
}

/// The endpoint's address from the argument.
pub fn endpoint(arg: Option<&str>) -> Result<String, CliError> {
    let Some(arg) = arg else {
        return Ok(DEFAULT_ADDRESS.to_string());
    };
    let path = Path::new(arg);
    if !path.is_file() {
        return Ok(arg.to_string());
    }
    let config = MirrorConfig::load(path, None)?;
    match config.process.metrics_address {
        None => Err(CliError::Usage(format!(
            "{arg}: kmirror.metrics.address is none: this kmirror has no endpoint to read"
        ))),
        Some(a) if a.ends_with(":0") => Err(CliError::Usage(format!(
            "{arg}: kmirror.metrics.address {a} lets the system choose the port; give the address kmirror logged at start-up"
        ))),
        Some(a) => Ok(a),
    }
}

/// One scrape of `/metrics`, `/health` and `/ready`.
pub fn scrape(address: &str) -> Result<View, String> {
    let (code, body) = scrape::get(address, "/metrics")?;
    if code != 200 {
        return Err(format!(
            "{address}/metrics answered {code}: {}",
            body.trim()
        ));
    }
    let samples = scrape::parse(&body);
    if !samples.iter().any(|s| s.name == "kmirror_info") {
        return Err(format!(
            "{address} answers /metrics, but not as kmirror (no kmirror_info)"
        ));
    }
    let answer = |path: &str| -> Result<(bool, String), String> {
        let (code, body) = scrape::get(address, path)?;
        Ok((code == 200, body.trim().to_string()))
    };
    Ok(View::build(
        address,
        &samples,
        answer("/health")?,
        answer("/ready")?,
    ))
}

/// Runs the command; the exit status.
pub fn run(args: &StatusArgs) -> Result<u8, CliError> {
    let address = endpoint(args.endpoint.as_deref())?;
    if args.once || args.json {
        let view = scrape(&address).map_err(CliError::Usage)?;
        if args.json {
            println!("{:#}", view.to_json());
        } else {
            print!("{}", table::render(&view, args.top));
        }
        return Ok(if view.health.0 && view.ready.0 { 0 } else { 2 });
    }
    live(&address, args)
}

/// Redraws the table every interval until interrupted. Outside a terminal
/// each refresh is printed after the last, without control codes.
fn live(address: &str, args: &StatusArgs) -> Result<u8, CliError> {
    let terminal = std::io::stdout().is_terminal();
    let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 3600.0));
    loop {
        let rows = terminal_rows().unwrap_or(40);
        // Title, totals, a blank line and headers take about ten rows,
        // plus one per flow.
        let text = match scrape(address) {
            Ok(view) => {
                let top = args
                    .top
                    .unwrap_or_else(|| rows.saturating_sub(10 + view.flows.len()).max(1));
                table::render(&view, Some(top))
            }
            Err(e) => format!("{e}\n(retrying every {:.1} s)\n", interval.as_secs_f64()),
        };
        let mut out = std::io::stdout().lock();
        let written = if terminal {
            // Home, clear the screen, draw.
            write!(out, "\x1b[H\x1b[2J{text}")
        } else {
            writeln!(out, "{text}")
        };
        if written.and_then(|_| out.flush()).is_err() {
            // The reader went away (a closed pipe): nothing left to show.
            return Ok(0);
        }
        drop(out);
        std::thread::sleep(interval);
    }
}

/// The terminal's height in rows, when stdout is one.
fn terminal_rows() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills the winsize passed in and nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 0).then_some(usize::from(size.ws_row))
}
