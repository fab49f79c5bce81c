//! A bounded run of every fuzz target in `proto/fuzz`, so the normal test
//! suite keeps them building and passing.
//!
//! What it proves: the targets build with libFuzzer's coverage
//! instrumentation on the stable toolchain (overflow checks and debug
//! assertions on), every committed seed, the reproducers of bugs fuzzing
//! found among them, goes through its decoder without a panic, and a fixed
//! number of mutated inputs per target (`RUNS`, from a fixed libFuzzer seed,
//! so a run is repeatable) finds none either.
//!
//! What it does not prove: that the decoders are free of panics. A few
//! hundred thousand executions from the seeds reach little that a long run
//! would; proto/fuzz/README.md has the command for those. No sanitizer runs
//! (proto forbids `unsafe`, but the zstd C library and the lz4 decoder it
//! calls are only checked for the answers they give), and inputs are capped
//! at libFuzzer's default length (4 KiB, or the longest seed).
//!
//! `KMIRROR_FUZZ_RUNS` and `KMIRROR_FUZZ_SEED` override the number of
//! executions per target and the libFuzzer seed. The instrumented build has
//! its own target directory, `fuzz-smoke` beside this test's own, and keeps
//! any crashing input under `fuzz-smoke/artifacts/<target>/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

/// Executions per target: 5 to 20 seconds on one core at the rates these
/// targets run (50,000 to 200,000 a second).
const RUNS: u64 = 1_000_000;
const SEED: u64 = 1;
/// A guard for a machine far slower or busier than expected: libFuzzer
/// stops after this long and the run counts what it managed, so the whole
/// test stays within about four minutes (eight targets, four at a time).
const MAX_SECONDS: u64 = 60;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/fuzz")
}

/// `fuzz-smoke` in the target directory this test was built in.
fn work_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // <target>/release/deps/fuzz_smoke-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("a test binary under <target>/<profile>/deps");
    target.join("fuzz-smoke")
}

/// Builds every target once for all tests; the path of the binaries, or
/// the build's output.
fn built() -> &'static Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_dir = work_dir().join("target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let started = Instant::now();
        // Run inside proto/fuzz so its .cargo/config.toml supplies the
        // instrumentation flags, which no inherited setting may replace.
        let out = Command::new(cargo)
            .current_dir(fuzz_dir())
            .args(["build", "--release", "--locked", "--target-dir"])
            .arg(&target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "building the fuzz targets failed ({}); after a dependency change in \
                 proto, `cargo check` in proto/fuzz updates its own Cargo.lock:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("fuzz targets built in {:.0?}", started.elapsed());
        Ok(target_dir.join("x86_64-unknown-linux-gnu/release"))
    })
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}

/// Runs `target` from its seeds for `RUNS` executions; panics with the
/// end of libFuzzer's report if it found a crash.
fn smoke(target: &str) {
    let bin_dir = match built() {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    };
    let runs = env_number("KMIRROR_FUZZ_RUNS", RUNS);
    let seed = env_number("KMIRROR_FUZZ_SEED", SEED);
    let seeds = fuzz_dir().join("seeds").join(target);
    assert!(seeds.is_dir(), "no seeds at {}", seeds.display());
    let artifacts = work_dir().join("artifacts").join(target);
    std::fs::create_dir_all(&artifacts).unwrap();
    // New inputs go to the first corpus directory: a scratch one, so the
    // committed seeds are only read.
    let scratch = tempfile::tempdir().unwrap();

    let started = Instant::now();
    let out = Command::new(bin_dir.join(target))
        .arg(format!("-runs={runs}"))
        .arg(format!("-seed={seed}"))
        .arg(format!("-max_total_time={MAX_SECONDS}"))
        .arg("-rss_limit_mb=512")
        .arg("-timeout=10")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(scratch.path())
        .arg(&seeds)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the {target} fuzz target: {e}"));
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "fuzz target {target} failed ({}) with -seed={seed}; crashing input under {}:\n{}",
            out.status,
            artifacts.display(),
            tail.join("\n")
        );
    }
    let stat = |name: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("stat::{name}:")))
            .map(str::trim)
            .unwrap_or("?")
            .to_string()
    };
    eprintln!(
        "{target}: {} executions in {:.1?}, peak RSS {} MB, {} new units",
        stat("number_of_executed_units"),
        started.elapsed(),
        stat("peak_rss_mb"),
        stat("new_units_added"),
    );
}

#[test]
fn response_frame() {
    smoke("response_frame");
}

#[test]
fn control_response() {
    smoke("control_response");
}

#[test]
fn fetch_response() {
    smoke("fetch_response");
}

#[test]
fn produce_response() {
    smoke("produce_response");
}

#[test]
fn record_set() {
    smoke("record_set");
}

#[test]
fn record_batch() {
    smoke("record_batch");
}

#[test]
fn records() {
    smoke("records");
}

#[test]
fn decompress() {
    smoke("decompress");
}

/// Every target in proto/fuzz/Cargo.toml is run above.
#[test]
fn every_target_is_smoked() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file!())).unwrap();
    let targets: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "kmirror-proto-fuzz")
        .collect();
    assert!(targets.len() >= 6, "{targets:?}");
    for t in targets {
        assert!(
            source.contains(&format!("smoke(\"{t}\")")),
            "fuzz target {t} has no smoke test"
        );
        assert!(
            fuzz_dir().join("seeds").join(t).is_dir(),
            "{t} has no seeds"
        );
    }
}
