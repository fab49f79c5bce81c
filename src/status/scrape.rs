//! Reading a running kmirror's endpoint: one HTTP GET, and the samples of
//! the Prometheus text format it answers with.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer that is read (10,000 partitions take about 40 MB
/// of text; more than that is not a kmirror talking).
const MAX_ANSWER: u64 = 256 << 20;

/// One sample: a metric name, its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }
}

/// `GET path` from `addr`: the status code and the body.
pub fn get(addr: &str, path: &str) -> Result<(u16, String), String> {
    let target = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let mut c = TcpStream::connect_timeout(&target, TIMEOUT).map_err(|e| {
        format!("cannot reach kmirror's endpoint at {addr}: {e} (is kmirror running, and is kmirror.metrics.address this address?)")
    })?;
    c.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    c.set_write_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{addr}: {e}"))?;
    let mut raw = Vec::new();
    c.take(MAX_ANSWER)
        .read_to_end(&mut raw)
        .map_err(|e| format!("{addr}: reading the answer to GET {path}: {e}"))?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{addr}: GET {path}: not an HTTP answer"))?;
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{addr}: GET {path}: no status in the answer"))?;
    Ok((code, body.to_string()))
}

/// The samples of a Prometheus text-format body; comments, blank lines and
/// lines that do not parse are passed over.
pub fn parse(body: &str) -> Vec<Sample> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

/// `name{k="v",...} value [timestamp]` or `name value [timestamp]`.
fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let (labels, rest) = if let Some(inside) = rest.strip_prefix('{') {
        parse_labels(inside)?
    } else {
        (BTreeMap::new(), rest)
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The labels up to the closing brace, and what follows it.
fn parse_labels(mut s: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(rest) = s.strip_prefix('}') {
            return Some((out, rest));
        }
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        out.insert(key.trim().to_string(), value);
        s = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_and_without_labels() {
        let body = "# HELP x y\n# TYPE x gauge\nx 3\n\
                    m{source=\"A\",topic=\"a \\\"q\\\" \\\\ b\",partition=\"0\"} 1.5\n\
                    junk\n\ninf{a=\"1\"} +Inf\n";
        let s = parse(body);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!((s[0].name.as_str(), s[0].value), ("x", 3.0));
        assert_eq!(s[1].name, "m");
        assert_eq!(s[1].label("topic"), "a \"q\" \\ b");
        assert_eq!(s[1].label("partition"), "0");
        assert_eq!(s[1].value, 1.5);
        assert!(s[2].value.is_infinite());
    }

    #[test]
    fn broken_labels_are_passed_over() {
        assert!(parse("m{a=\"1\" 2\n").is_empty());
        assert!(parse("m{a=1} 2\n").is_empty());
    }
}
