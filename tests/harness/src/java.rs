//! Java command lines for Kafka's own tools and for the harness's test
//! clients (`tests/kafka/java/*.java`), compiled on first use against the
//! Kafka 4 client jars and cached in `.kafka/classes/<source hash>`.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::{process, repo_root, KafkaDist};

/// How much JVM a tool gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Jvm {
    /// Admin commands that run for a second: C1 only, which starts faster.
    Brief,
    /// Clients that move data (perf producer, copier, test clients).
    Data,
}

/// `java ... main args` on the Kafka 4 tools classpath (plus the test
/// clients when `main` is one of them), with 256 MiB of heap and logging at
/// WARN to stderr, guarded so it dies with the test process.
pub(crate) fn tool<S: Into<OsString>>(
    main: &str,
    jvm: Jvm,
    args: impl IntoIterator<Item = S>,
) -> io::Result<Command> {
    let tools = KafkaDist::tools()?;
    let mut classpath = tools.classpath();
    if matches!(
        main,
        "TestProducer"
            | "TestConsumer"
            | "PacedProducer"
            | "StreamProducer"
            | "Mm2Client"
            | "GroupConsumer"
    ) {
        classpath = format!("{}:{classpath}", test_clients()?.display());
    }
    let log_config = repo_root().join("tests/kafka/tools-log4j2.properties");
    let mut argv: Vec<OsString> = vec![
        "-Xmx256m".into(),
        "-Xms32m".into(),
        "-XX:+UseSerialGC".into(),
        "-XX:-UsePerfData".into(),
        "-Djava.awt.headless=true".into(),
    ];
    if jvm == Jvm::Brief {
        argv.push("-XX:TieredStopAtLevel=1".into());
    }
    argv.push(format!("-Dlog4j2.configurationFile={}", log_config.display()).into());
    argv.push("-cp".into());
    argv.push(classpath.into());
    argv.push(main.into());
    argv.extend(args.into_iter().map(Into::into));
    Ok(process::guarded("java", &argv))
}

/// The directory holding the compiled test clients.
fn test_clients() -> io::Result<PathBuf> {
    static COMPILED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| compile().map_err(|e| e.to_string()))
        .clone()
        .map_err(io::Error::other)
}

const SOURCES: [(&str, &str); 7] = [
    ("Wire.java", include_str!("../../kafka/java/Wire.java")),
    (
        "GroupConsumer.java",
        include_str!("../../kafka/java/GroupConsumer.java"),
    ),
    (
        "Mm2Client.java",
        include_str!("../../kafka/java/Mm2Client.java"),
    ),
    (
        "TestProducer.java",
        include_str!("../../kafka/java/TestProducer.java"),
    ),
    (
        "TestConsumer.java",
        include_str!("../../kafka/java/TestConsumer.java"),
    ),
    (
        "PacedProducer.java",
        include_str!("../../kafka/java/PacedProducer.java"),
    ),
    (
        "StreamProducer.java",
        include_str!("../../kafka/java/StreamProducer.java"),
    ),
];

fn compile() -> io::Result<PathBuf> {
    let tools = KafkaDist::tools()?;
    // FNV-1a: stable across Rust releases, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in SOURCES
        .iter()
        .flat_map(|(name, text)| name.bytes().chain(text.bytes()))
        .chain(tools.version.bytes())
    {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let classes = repo_root().join(".kafka").join("classes");
    let done = classes.join(format!("{hash:016x}"));
    if done.join(".complete").is_file() {
        return Ok(done);
    }

    // Several test binaries may compile at once: each in its own scratch
    // directory, the first rename wins and the others use its result.
    let scratch = classes.join(format!(".tmp-{hash:016x}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let src = scratch.join("src");
    fs::create_dir_all(&src)?;
    let mut argv: Vec<OsString> = vec![
        "-nowarn".into(),
        "-encoding".into(),
        "UTF-8".into(),
        "-cp".into(),
        tools.classpath().into(),
        "-d".into(),
        scratch.clone().into(),
    ];
    for (name, text) in SOURCES {
        fs::write(src.join(name), text)?;
        argv.push(src.join(name).into());
    }
    let javac = process::guarded("javac", &argv);
    process::run(
        javac,
        None,
        Duration::from_secs(180),
        "compiling the test clients in tests/kafka/java",
    )?;
    fs::write(scratch.join(".complete"), "")?;
    if let Err(e) = fs::rename(&scratch, &done) {
        let _ = fs::remove_dir_all(&scratch);
        if !done.join(".complete").is_file() {
            return Err(e);
        }
    }
    Ok(done)
}
