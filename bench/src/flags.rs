//! The benchmarks' command-line flags: `--name value` pairs.

use std::str::FromStr;

/// The `--flag value` pairs of `args`, in order; a flag without its value
/// is an error.
pub fn pairs(args: &[String]) -> Result<Vec<(&str, &str)>, String> {
    args.chunks(2)
        .map(|c| match c {
            [flag, value] => Ok((flag.as_str(), value.as_str())),
            [flag] => Err(format!("{flag} needs a value")),
            _ => unreachable!("chunks(2) yields one or two items"),
        })
        .collect()
}

/// The value of `flag` as a number.
pub fn number<T: FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} {value}: not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_numbers() {
        let args: Vec<String> = ["--rate", "5", "--cpus", "0,1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(pairs(&args).unwrap(), [("--rate", "5"), ("--cpus", "0,1")]);
        assert_eq!(number::<u64>("--rate", "5"), Ok(5));
        assert!(number::<u64>("--rate", "x")
            .unwrap_err()
            .contains("not a number"));
        assert!(pairs(&args[..3])
            .unwrap_err()
            .contains("--cpus needs a value"));
    }
}
