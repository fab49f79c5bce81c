//! The process's resource limits and the kernel settings that bound it, as
//! the kernel applies them.

use std::io;

/// The open-file limit (RLIMIT_NOFILE): soft and hard, `None` meaning
/// unlimited.
pub fn open_files() -> io::Result<(Option<u64>, Option<u64>)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the rlimit struct passed, which we own, and
    // nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u64 on 64-bit Linux, not everywhere.
    #[allow(clippy::unnecessary_cast)]
    let finite = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v as u64);
    Ok((finite(limit.rlim_cur), finite(limit.rlim_max)))
}

/// The value of sysctl `name` (`net.core.rmem_max`), read from /proc/sys.
pub fn read_sysctl(name: &str) -> Option<String> {
    let text = std::fs::read_to_string(sysctl_path(name)).ok()?;
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `/proc/sys/net/core/rmem_max` for `net.core.rmem_max`.
pub fn sysctl_path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_what_proc_says() {
        let (soft, hard) = open_files().expect("getrlimit");
        let limits = std::fs::read_to_string("/proc/self/limits").expect("a Linux host");
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .expect("an open-file line");
        let fields: Vec<&str> = line.split_whitespace().collect();
        let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |v| v.to_string());
        assert_eq!(fields[3], show(soft), "{line}");
        assert_eq!(fields[4], show(hard), "{line}");
    }
}
