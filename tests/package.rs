//! The Debian package: built by cargo-deb from the very binary this test
//! runs against (`--no-build` with the test's own target directory and
//! profile, so nothing is compiled again), installed with dpkg (system-wide
//! as root, into a scratch root with `dpkg --root` otherwise), its binary
//! run (`--version`, `tune check`), its systemd unit checked with
//! `systemd-analyze verify` where that exists, and removed again.
//!
//! Needs cargo-deb and dpkg, and fails (never skips) without them:
//! `.ci/run` installs cargo-deb.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The unit's path inside the package.
const UNIT: &str = "lib/systemd/system/kmirror@.service";

fn run(what: &str, command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn succeed(what: &str, command: &mut Command) -> String {
    let out = run(what, command);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        text(&out)
    );
    text(&out)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory of ours.
    unsafe { libc::geteuid() == 0 }
}

/// The directory cargo builds into and the profile the test binary came
/// from, so that cargo-deb packages that build instead of making its own.
fn target_and_profile() -> (PathBuf, &'static str) {
    let bin = Path::new(env!("CARGO_BIN_EXE_kmirror"));
    let profile_dir = bin.parent().expect("the binary's directory");
    let target_dir = profile_dir.parent().expect("the target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => "release",
        // cargo-deb warns that it is meant for release builds, and packages
        // the dev build all the same.
        Some("debug") => "dev",
        other => panic!("the kmirror binary is in an unexpected profile directory {other:?}"),
    };
    (target_dir.to_path_buf(), profile)
}

/// Builds the package into `out` and returns the .deb's path.
fn build_package(out: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let version = run(
        "cargo deb --version",
        Command::new(&cargo).args(["deb", "--version"]),
    );
    assert!(
        version.status.success(),
        "cargo-deb is not installed (`cargo deb` failed: {}). .ci/run installs it: \
         cargo install cargo-deb --locked",
        text(&version).trim()
    );
    let (target_dir, profile) = target_and_profile();
    succeed(
        "cargo deb",
        Command::new(&cargo)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["deb", "--no-build", "--fast", "--profile", profile, "-o"])
            .arg(out),
    );
    std::fs::read_dir(out)
        .expect("cargo deb's output directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .unwrap_or_else(|| panic!("cargo deb wrote no .deb into {}", out.display()))
}

/// Removes the package (and, as root, the user its install created) when
/// dropped, so a failed assertion still leaves the host as it was.
struct Installed {
    dpkg_root: Option<PathBuf>,
    remove_user: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let mut purge = Command::new("dpkg");
        if let Some(root) = &self.dpkg_root {
            purge.args(dpkg_root_args(root));
        }
        let out = run("dpkg --purge", purge.args(["--purge", "kmirror"]));
        if !out.status.success() {
            eprintln!("dpkg --purge kmirror failed:\n{}", text(&out));
        }
        if self.remove_user {
            let _ = Command::new("userdel").arg("kmirror").status();
        }
    }
}

/// dpkg's options for an install into `root` by a user who is not root.
fn dpkg_root_args(root: &Path) -> Vec<String> {
    vec![
        "--force-not-root".into(),
        "--force-script-chrootless".into(),
        // The scratch root has no libc6 or adduser packages to satisfy the
        // package's dependencies; the host's libc runs the binary.
        "--force-depends".into(),
        format!("--root={}", root.display()),
        "--log=/dev/null".into(),
    ]
}

#[test]
fn the_debian_package_builds_installs_runs_and_is_removed() {
    for tool in ["dpkg", "dpkg-deb"] {
        assert!(
            have(tool),
            "{tool} is missing: this test builds and installs a Debian package and needs a \
             Debian-based host (.ci/run installs cargo-deb; dpkg comes with the system)"
        );
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let deb = build_package(&scratch.path().join("out"));

    // What the package holds.
    let listing = succeed("dpkg-deb -c", Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in [
        "./usr/bin/kmirror",
        &format!("./{UNIT}"),
        "./usr/share/kmirror/profiles/lan-low-latency.properties",
        "./usr/share/kmirror/profiles/wan-high-bdp.properties",
        "./usr/share/kmirror/profiles/max-throughput.properties",
        "./usr/share/kmirror/profiles/small-host.properties",
        "./usr/share/kmirror/sysctl/90-kmirror.conf",
        "./etc/kmirror/example.properties",
    ] {
        assert!(
            listing.contains(path),
            "{path} is not in the package:\n{listing}"
        );
    }
    let conffiles = succeed(
        "dpkg-deb -I conffiles",
        Command::new("dpkg-deb")
            .arg("-I")
            .arg(&deb)
            .arg("conffiles"),
    );
    assert_eq!(conffiles.trim(), "/etc/kmirror/example.properties");

    // Install it.
    let root = is_root();
    let dpkg_root = (!root).then(|| scratch.path().join("root"));
    let user_existed = root && have("getent") && {
        Command::new("getent")
            .args(["passwd", "kmirror"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if root {
        let status = run("dpkg -s", Command::new("dpkg").args(["-s", "kmirror"]));
        let ours = format!("Version: {}-1", env!("CARGO_PKG_VERSION"));
        assert!(
            !status.status.success() || text(&status).contains(&ours),
            "another kmirror package is installed on this host; this test would replace and remove it \
             (dpkg --purge kmirror first):\n{}",
            text(&status)
        );
        succeed("dpkg -i", Command::new("dpkg").arg("-i").arg(&deb));
    } else {
        let root = dpkg_root.as_ref().expect("set when not root");
        for dir in [
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/lib/dpkg/triggers",
        ] {
            std::fs::create_dir_all(root.join(dir)).expect("dpkg database directories");
        }
        for file in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
            std::fs::write(root.join(file), "").expect("dpkg database files");
        }
        succeed(
            "dpkg --root -i",
            Command::new("dpkg")
                .args(dpkg_root_args(root))
                .arg("-i")
                .arg(&deb)
                // dpkg wants ldconfig and start-stop-daemon on the PATH.
                .env(
                    "PATH",
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                ),
        );
    }
    let _installed = Installed {
        dpkg_root: dpkg_root.clone(),
        remove_user: root && !user_existed,
    };
    let prefix = dpkg_root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let kmirror = prefix.join("usr/bin/kmirror");

    // The installed binary runs.
    let version = succeed("kmirror --version", Command::new(&kmirror).arg("--version"));
    assert_eq!(
        version.trim(),
        format!("kmirror {}", env!("CARGO_PKG_VERSION"))
    );
    let check = run(
        "kmirror tune check",
        Command::new(&kmirror).args(["tune", "check"]),
    );
    let report = text(&check);
    assert!(
        matches!(check.status.code(), Some(0 | 1)),
        "tune check could not check ({}):\n{report}",
        check.status
    );
    assert!(
        report.contains("kmirror tune check: this host against profile wan-high-bdp"),
        "{report}"
    );
    assert!(report.contains("net.core.rmem_max"), "{report}");
    assert_eq!(
        check.status.code() == Some(1),
        report.contains("\nFixes (as root)\n"),
        "exit status 1 exactly when there are fixes to print:\n{report}"
    );

    // What the maintainer scripts did.
    if root {
        succeed(
            "getent passwd kmirror",
            Command::new("getent").args(["passwd", "kmirror"]),
        );
        let owner = succeed(
            "stat /etc/kmirror",
            Command::new("stat").args(["-c", "%U:%G %a", "/etc/kmirror"]),
        );
        assert_eq!(owner.trim(), "root:kmirror 750");
    }

    // The unit file, as systemd reads it: no warnings at all (unknown or
    // malformed settings are only warned about, with exit status 0).
    if have("systemd-analyze") {
        let unit = if root {
            PathBuf::from("/").join(UNIT)
        } else {
            // Verify a copy that starts the scratch root's binary.
            let text = std::fs::read_to_string(prefix.join(UNIT)).expect("the unit file");
            let dir = scratch.path().join("units");
            std::fs::create_dir_all(&dir).expect("units directory");
            let copy = dir.join("kmirror@.service");
            std::fs::write(
                &copy,
                text.replace("/usr/bin/kmirror", &kmirror.display().to_string()),
            )
            .expect("write the unit copy");
            copy
        };
        let out = run(
            "systemd-analyze verify",
            Command::new("systemd-analyze").arg("verify").arg(&unit),
        );
        assert!(
            out.status.success() && text(&out).trim().is_empty(),
            "systemd-analyze verify {} ({}):\n{}",
            unit.display(),
            out.status,
            text(&out)
        );
    } else {
        eprintln!("systemd-analyze is not on this host: the unit file was not verified");
    }
}
