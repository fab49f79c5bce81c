//! A reader for Java `.properties` files, the format of `mm2.properties`,
//! following the rules `java.util.Properties.load` applies so that a file
//! MirrorMaker 2 accepts means the same thing here.
//!
//! It records the line each entry starts on, for error messages and
//! warnings. It only parses: it never interprets keys or values, and never
//! expands `${...}` config-provider references (`config::providers` does).

use std::collections::{btree_map, BTreeMap};
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::ConfigError;

/// The entries of one `.properties` file, by key. Its `Debug` hides the
/// values of keys that hold secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Properties {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

/// One key's value and the 1-based line its logical line starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub line: usize,
    /// The file the entry was read from when it is not the file these
    /// properties were loaded from: a tuning profile layered beneath it
    /// (see [`Properties::layer_beneath`]). `None`: the file itself.
    pub file: Option<Arc<Path>>,
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (key, entry) in &self.entries {
            if crate::security::secret::is_secret_key(key) {
                m.entry(key, &format_args!("[hidden] (line {})", entry.line));
            } else {
                m.entry(key, entry);
            }
        }
        m.finish()
    }
}

impl Properties {
    /// Reads and parses the file at `path`.
    ///
    /// The file is read as UTF-8; a file that is not valid UTF-8 is read as
    /// ISO-8859-1, the encoding Java's `Properties.load(InputStream)` uses. A
    /// leading byte-order mark is skipped.
    pub fn load(path: &Path) -> Result<Properties, ConfigError> {
        let bytes = fs::read(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => err.into_bytes().iter().map(|&b| char::from(b)).collect(),
        };
        Properties::parse(path, &text)
    }

    /// Parses `text`; `path` is only used in error messages.
    ///
    /// A key given twice keeps its last value and that value's line.
    pub fn parse(path: &Path, text: &str) -> Result<Properties, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let lines = natural_lines(text);
        let mut entries = BTreeMap::new();
        let mut next = 0;
        while next < lines.len() {
            let start_line = next + 1;
            let first = skip_blanks(lines[next]);
            next += 1;
            if first.is_empty() || first.starts_with(['#', '!']) {
                continue;
            }

            let mut logical = String::from(first);
            let mut current = first;
            while ends_with_odd_backslashes(current) {
                logical.pop();
                // A continuation line that is empty once its leading
                // whitespace is skipped ends the logical line, as in Java.
                let Some(line) = lines.get(next) else { break };
                next += 1;
                current = skip_blanks(line);
                if current.is_empty() {
                    break;
                }
                logical.push_str(current);
            }

            let (raw_key, raw_value) = split_key_value(&logical);
            let key = unescape(raw_key).map_err(|message| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: start_line,
                message: format!("in a key: {message}"),
            })?;
            let value = unescape(raw_value).map_err(|message| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: start_line,
                message: format!("in the value of key '{key}': {message}"),
            })?;
            entries.insert(
                key,
                Entry {
                    value,
                    line: start_line,
                    file: None,
                },
            );
        }
        Ok(Properties {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// The file these entries were read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The value of `key`, as written (not trimmed at the end).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|entry| entry.value.as_str())
    }

    /// Replaces the value of an existing entry (a config provider's
    /// result), keeping its line.
    pub fn set_value(&mut self, key: &str, value: String) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.value = value;
        }
    }

    /// Empty properties that kmirror fills itself from other files'
    /// entries (MirrorMaker 1's consumer and producer files): `path` names
    /// the whole, each entry added with [`Properties::insert_from`] keeps
    /// its own file and line.
    pub fn assembled(path: &Path) -> Properties {
        Properties {
            path: path.to_path_buf(),
            entries: BTreeMap::new(),
        }
    }

    /// Sets `key` to `value`, read from `file` at `line` (`None`: this
    /// assembly's own path, for values kmirror derives itself).
    pub fn insert_from(
        &mut self,
        key: String,
        value: String,
        file: Option<Arc<Path>>,
        line: usize,
    ) {
        self.entries.insert(key, Entry { value, line, file });
    }

    /// The line `key`'s entry starts on.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.entries.get(key).map(|entry| entry.line)
    }

    /// The file `entry` (one of these properties' entries) was read from.
    pub fn file_of<'a>(&'a self, entry: &'a Entry) -> &'a Path {
        entry.file.as_deref().unwrap_or(&self.path)
    }

    /// Adds the entries of `beneath` whose keys these properties do not
    /// set and `keep` accepts, each still naming the file and line it came
    /// from, so that errors and warnings about it point there.
    pub fn layer_beneath(&mut self, beneath: &Properties, keep: impl Fn(&str) -> bool) {
        let file: Arc<Path> = Arc::from(beneath.path.as_path());
        for (key, entry) in &beneath.entries {
            if self.entries.contains_key(key) || !keep(key) {
                continue;
            }
            self.entries.insert(
                key.clone(),
                Entry {
                    value: entry.value.clone(),
                    line: entry.line,
                    file: Some(entry.file.clone().unwrap_or_else(|| file.clone())),
                },
            );
        }
    }

    /// All entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries
            .iter()
            .map(|(key, entry)| (key.as_str(), entry))
    }

    /// The entries whose key starts with `prefix`, with the prefix removed.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Entry)> {
        self.entries
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(key, _)| key.starts_with(prefix))
            .map(move |(key, entry)| (&key[prefix.len()..], entry))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = (&'a String, &'a Entry);
    type IntoIter = btree_map::Iter<'a, String, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// Splits on `\n`, `\r\n` and lone `\r`, the terminators Java accepts.
fn natural_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Java's whitespace in `.properties`: space, tab and form feed only.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

fn skip_blanks(line: &str) -> &str {
    line.trim_start_matches(is_blank)
}

fn ends_with_odd_backslashes(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped `=`, `:` or blank. Blanks
/// around the separator are skipped; a blank separator may be followed by
/// one `=` or `:`.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut has_separator = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' {
            key_end = i;
            value_start = i + 1;
            has_separator = true;
            break;
        } else if is_blank(c) {
            key_end = i;
            value_start = i + 1;
            break;
        }
    }
    let mut rest = line[value_start..].char_indices();
    let mut offset = line.len() - value_start;
    for (i, c) in rest.by_ref() {
        if is_blank(c) {
            continue;
        }
        if !has_separator && (c == '=' || c == ':') {
            has_separator = true;
            continue;
        }
        offset = i;
        break;
    }
    (&line[..key_end], &line[value_start + offset..])
}

/// Resolves backslash escapes: `\t \n \r \f`, `\uXXXX` (UTF-16 code units,
/// surrogate pairs joined) and `\x` for any other `x`.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = Utf16Joiner::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push_char(c)?;
            continue;
        }
        // `parse` has already dropped an unpaired trailing backslash.
        let Some(escaped) = chars.next() else { break };
        match escaped {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                if hex.len() != 4 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "malformed \\uXXXX escape '\\u{hex}': four hex digits expected"
                    ));
                }
                let unit = u16::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                out.push_unit(unit)?;
            }
            't' => out.push_char('\t')?,
            'n' => out.push_char('\n')?,
            'r' => out.push_char('\r')?,
            'f' => out.push_char('\x0c')?,
            other => out.push_char(other)?,
        }
    }
    out.finish()
}

/// Builds a string from chars and `\u` UTF-16 code units, pairing surrogates.
struct Utf16Joiner {
    out: String,
    high_surrogate: Option<u16>,
}

impl Utf16Joiner {
    fn with_capacity(capacity: usize) -> Utf16Joiner {
        Utf16Joiner {
            out: String::with_capacity(capacity),
            high_surrogate: None,
        }
    }

    fn push_char(&mut self, c: char) -> Result<(), String> {
        if let Some(high) = self.high_surrogate {
            return Err(lone_surrogate(high));
        }
        self.out.push(c);
        Ok(())
    }

    fn push_unit(&mut self, unit: u16) -> Result<(), String> {
        match (self.high_surrogate.take(), unit) {
            (None, 0xD800..=0xDBFF) => self.high_surrogate = Some(unit),
            (Some(high), 0xDC00..=0xDFFF) => {
                let code =
                    0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                self.out
                    .push(char::from_u32(code).ok_or_else(|| lone_surrogate(high))?);
            }
            (Some(high), _) => return Err(lone_surrogate(high)),
            (None, _) => {
                self.out
                    .push(char::from_u32(u32::from(unit)).ok_or_else(|| lone_surrogate(unit))?);
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<String, String> {
        match self.high_surrogate {
            Some(high) => Err(lone_surrogate(high)),
            None => Ok(self.out),
        }
    }
}

fn lone_surrogate(unit: u16) -> String {
    format!("'\\u{unit:04X}' is half of a UTF-16 surrogate pair without its other half")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Properties {
        Properties::parse(Path::new("test.properties"), text).expect("parses")
    }

    fn value<'a>(props: &'a Properties, key: &str) -> &'a str {
        props
            .value(key)
            .unwrap_or_else(|| panic!("no key {key:?} in {props:?}"))
    }

    #[test]
    fn separators_and_whitespace() {
        let props = parse("a=1\nb = 2\nc:3\n  d  :  4\ne 5\nf  =  6 \ng\nh=\n\t\x0ci   = x=y");
        assert_eq!(value(&props, "a"), "1");
        assert_eq!(value(&props, "b"), "2");
        assert_eq!(value(&props, "c"), "3");
        assert_eq!(value(&props, "d"), "4");
        assert_eq!(value(&props, "e"), "5");
        // Trailing whitespace belongs to the value, as in Java.
        assert_eq!(value(&props, "f"), "6 ");
        assert_eq!(value(&props, "g"), "");
        assert_eq!(value(&props, "h"), "");
        assert_eq!(value(&props, "i"), "x=y");
        assert_eq!(props.len(), 9);
    }

    #[test]
    fn blank_separator_then_one_equals_sign() {
        let props = parse("k  = = v\nm :=v");
        assert_eq!(value(&props, "k"), "= v");
        assert_eq!(value(&props, "m"), "=v");
    }

    #[test]
    fn comments_and_blank_lines() {
        let props = parse("# comment\n   ! also a comment\n\n   \nkey=value # not a comment\n#x=y");
        assert_eq!(props.len(), 1);
        assert_eq!(value(&props, "key"), "value # not a comment");
        assert_eq!(props.line_of("key"), Some(5));
    }

    #[test]
    fn continuation_lines() {
        let text = "topics = a, \\\n    b, \\\n\t c\nnext = 1\n";
        let props = parse(text);
        assert_eq!(value(&props, "topics"), "a, b, c");
        assert_eq!(props.line_of("topics"), Some(1));
        assert_eq!(props.line_of("next"), Some(4));
    }

    #[test]
    fn even_backslashes_do_not_continue() {
        let props = parse("a = x\\\\\nb = y\\\\\\\n  z");
        assert_eq!(value(&props, "a"), "x\\");
        assert_eq!(value(&props, "b"), "y\\z");
    }

    #[test]
    fn a_continued_comment_is_still_only_a_comment() {
        let props = parse("# comment \\\nkey = v");
        assert_eq!(value(&props, "key"), "v");
        assert_eq!(props.line_of("key"), Some(2));
    }

    #[test]
    fn continuation_into_a_line_starting_with_hash_is_not_a_comment() {
        let props = parse("k = a\\\n  #b");
        assert_eq!(value(&props, "k"), "a#b");
    }

    #[test]
    fn empty_continuation_line_ends_the_logical_line() {
        let props = parse("k = a\\\n   \nb = 2");
        assert_eq!(value(&props, "k"), "a");
        assert_eq!(value(&props, "b"), "2");
        assert_eq!(props.line_of("b"), Some(3));
    }

    #[test]
    fn trailing_backslash_at_end_of_file_is_dropped() {
        let props = parse("k = a\\");
        assert_eq!(value(&props, "k"), "a");
    }

    #[test]
    fn line_terminators() {
        let props = parse("a=1\r\nb=2\rc=3\n\rd=4");
        assert_eq!(props.line_of("a"), Some(1));
        assert_eq!(props.line_of("b"), Some(2));
        assert_eq!(props.line_of("c"), Some(3));
        assert_eq!(props.line_of("d"), Some(5));
        let props = parse("a=x\\\r\n  y");
        assert_eq!(value(&props, "a"), "xy");
    }

    #[test]
    fn escapes() {
        let props = parse(
            "a\\=b\\:c\\ d = 1\n\
             e = \\t\\n\\r\\f\\\\\\=\\:\\#\\!\\q\n\
             \\#f = 2\n\
             g = \\u0041\\u00e9\\u20AC\n\
             h = \\uD83D\\uDE00\n",
        );
        assert_eq!(value(&props, "a=b:c d"), "1");
        assert_eq!(value(&props, "e"), "\t\n\r\x0c\\=:#!q");
        assert_eq!(value(&props, "#f"), "2");
        assert_eq!(value(&props, "g"), "Aé€");
        assert_eq!(value(&props, "h"), "😀");
    }

    #[test]
    fn malformed_unicode_escape_names_file_and_line() {
        let err =
            Properties::parse(Path::new("mm2.properties"), "a = 1\n\nb = x\\u12G4\n").unwrap_err();
        assert!(
            matches!(err, ConfigError::Syntax { line: 3, .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.starts_with("mm2.properties:3: "), "{text}");
        assert!(text.contains("'b'"), "{text}");
        assert!(text.contains("\\u12G4"), "{text}");

        let err = Properties::parse(Path::new("p"), "k\\u00 = 1").unwrap_err();
        assert!(
            matches!(err, ConfigError::Syntax { line: 1, .. }),
            "{err:?}"
        );
        let err = Properties::parse(Path::new("p"), "k = \\uD83D!").unwrap_err();
        assert!(err.to_string().contains("surrogate"), "{err}");
    }

    #[test]
    fn later_duplicates_win_with_their_line() {
        let props = parse("k = 1\nother = x\nk = 2\n");
        assert_eq!(value(&props, "k"), "2");
        assert_eq!(props.line_of("k"), Some(3));
    }

    #[test]
    fn prefix_iteration() {
        let props = parse("A.x = 1\nA.y = 2\nAB.z = 3\nB.x = 4\n");
        let got: Vec<(&str, &str)> = props
            .with_prefix("A.")
            .map(|(k, e)| (k, e.value.as_str()))
            .collect();
        assert_eq!(got, vec![("x", "1"), ("y", "2")]);
        assert_eq!(props.iter().count(), 4);
        assert_eq!((&props).into_iter().count(), 4);
    }

    #[test]
    fn layered_entries_keep_their_own_file_and_line() {
        let mut user = parse("a = user\nb = user\n");
        let profile = Properties::parse(
            Path::new("profile.properties"),
            "# c\na = p\n\nc = p\nd = p\n",
        )
        .expect("parses");
        user.layer_beneath(&profile, |key| key != "d");
        assert_eq!(value(&user, "a"), "user");
        assert_eq!(value(&user, "c"), "p");
        assert_eq!(user.value("d"), None);
        let a = user.get("a").expect("a");
        assert_eq!(user.file_of(a), Path::new("test.properties"));
        let c = user.get("c").expect("c");
        assert_eq!(user.file_of(c), Path::new("profile.properties"));
        assert_eq!(c.line, 4);
    }

    #[test]
    fn load_reads_utf8_and_latin1() {
        let dir = tempfile::tempdir().expect("tempdir");
        let utf8 = dir.path().join("utf8.properties");
        fs::write(&utf8, "\u{feff}name = café\n").expect("write");
        let props = Properties::load(&utf8).expect("loads");
        assert_eq!(props.value("name"), Some("café"));
        assert_eq!(props.path(), utf8.as_path());

        let latin1 = dir.path().join("latin1.properties");
        fs::write(&latin1, b"name = caf\xe9\n").expect("write");
        assert_eq!(
            Properties::load(&latin1).expect("loads").value("name"),
            Some("café")
        );

        let missing = dir.path().join("missing.properties");
        let err = Properties::load(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert!(err.to_string().contains("missing.properties"), "{err}");
    }
}
