//! Which topics (and consumer groups) a flow mirrors: MirrorMaker 2's
//! include and exclude lists, comma-separated regular expressions that must
//! match a whole name.
//!
//! A pattern is never matched against part of a name: every item is anchored
//! at both ends. As in MirrorMaker 2, a list is split at every comma, so an
//! item cannot itself contain one (`a{1,3}` is two items).

use std::fmt;

use regex::Regex;

use crate::config::{ConfigError, Setting};

/// MirrorMaker 2's default for `topics`.
pub const TOPICS_DEFAULT: &str = ".*";
/// MirrorMaker 2's default for `topics.exclude`.
pub const TOPICS_EXCLUDE_DEFAULT: &str = r".*[\-\.]internal, .*\.replica, __.*";
/// MirrorMaker 2's default for `groups`.
pub const GROUPS_DEFAULT: &str = ".*";
/// MirrorMaker 2's default for `groups.exclude`.
pub const GROUPS_EXCLUDE_DEFAULT: &str = "console-consumer-.*, connect-.*, __.*";

/// Names a flow mirrors: those matching an `include` pattern and no
/// `exclude` pattern.
#[derive(Clone, Debug)]
pub struct TopicFilter {
    include: PatternList,
    exclude: PatternList,
}

/// A comma-separated list of whole-name regular expressions.
#[derive(Clone, Debug)]
pub struct PatternList {
    items: Vec<String>,
    anchored: Vec<Regex>,
}

/// An item of a pattern list that is not a valid regular expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError {
    pub item: String,
    pub message: String,
}

impl TopicFilter {
    /// A filter from an include and an exclude list, e.g. the values of
    /// `topics` and `topics.exclude`.
    pub fn new(include: &str, exclude: &str) -> Result<TopicFilter, PatternError> {
        Ok(TopicFilter {
            include: PatternList::parse(include)?,
            exclude: PatternList::parse(exclude)?,
        })
    }

    pub fn from_lists(include: PatternList, exclude: PatternList) -> TopicFilter {
        TopicFilter { include, exclude }
    }

    /// A filter from configured settings, each falling back to its default
    /// when absent. A bad pattern is an error naming the setting's file,
    /// line and key.
    pub fn from_settings(
        include: Option<&Setting<'_>>,
        exclude: Option<&Setting<'_>>,
        include_default: &str,
        exclude_default: &str,
    ) -> Result<TopicFilter, ConfigError> {
        Ok(TopicFilter {
            include: PatternList::from_setting_or(include, include_default)?,
            exclude: PatternList::from_setting_or(exclude, exclude_default)?,
        })
    }

    /// MirrorMaker 2's default topic filter.
    pub fn topics_default() -> TopicFilter {
        TopicFilter::new(TOPICS_DEFAULT, TOPICS_EXCLUDE_DEFAULT)
            .expect("the default topic patterns compile")
    }

    /// MirrorMaker 2's default consumer group filter.
    pub fn groups_default() -> TopicFilter {
        TopicFilter::new(GROUPS_DEFAULT, GROUPS_EXCLUDE_DEFAULT)
            .expect("the default group patterns compile")
    }

    /// Whether `name` is included and not excluded.
    pub fn matches(&self, name: &str) -> bool {
        self.include.matches(name) && !self.exclude.matches(name)
    }

    pub fn include(&self) -> &PatternList {
        &self.include
    }

    pub fn exclude(&self) -> &PatternList {
        &self.exclude
    }
}

impl PatternList {
    /// Parses a comma-separated list; items are trimmed and empty items
    /// skipped. An empty list matches nothing (as in MirrorMaker 2, where a
    /// blank `topics.exclude` excludes nothing).
    pub fn parse(list: &str) -> Result<PatternList, PatternError> {
        let mut items = Vec::new();
        let mut anchored = Vec::new();
        for item in list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            // Compiling the item alone first rejects items that would only
            // parse inside the anchoring group, such as `a)|(b`, and gives an
            // error that quotes the operator's own text.
            Regex::new(item).map_err(|err| PatternError {
                item: item.to_string(),
                message: regex_error_summary(&err),
            })?;
            let regex = Regex::new(&format!("^(?:{item})$")).map_err(|err| PatternError {
                item: item.to_string(),
                message: regex_error_summary(&err),
            })?;
            items.push(item.to_string());
            anchored.push(regex);
        }
        Ok(PatternList { items, anchored })
    }

    /// Parses a configured setting; a bad pattern is an
    /// [`ConfigError::InvalidValue`] naming its file, line and key.
    pub fn from_setting(setting: &Setting<'_>) -> Result<PatternList, ConfigError> {
        PatternList::parse(setting.value).map_err(|err| setting.invalid(err.to_string()))
    }

    fn from_setting_or(
        setting: Option<&Setting<'_>>,
        default: &str,
    ) -> Result<PatternList, ConfigError> {
        match setting {
            Some(setting) => PatternList::from_setting(setting),
            None => Ok(PatternList::parse(default).expect("default patterns compile")),
        }
    }

    /// Whether any pattern matches the whole of `name`.
    pub fn matches(&self, name: &str) -> bool {
        self.anchored.iter().any(|regex| regex.is_match(name))
    }

    /// The items as written (trimmed).
    pub fn items(&self) -> &[String] {
        &self.items
    }

    /// The compiled patterns, each anchored so `is_match` is a whole match.
    pub fn regexes(&self) -> &[Regex] {
        &self.anchored
    }

    pub fn into_regexes(self) -> Vec<Regex> {
        self.anchored
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a valid regular expression: {}",
            self.item, self.message
        )
    }
}

impl std::error::Error for PatternError {}

/// The one-line reason from a `regex` error, whose full text spans several
/// lines to point at the offending character.
fn regex_error_summary(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error:"))
        .map(|reason| reason.trim().to_string())
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn default_topic_filter() {
        let filter = TopicFilter::topics_default();
        for topic in [
            "orders",
            "A.orders",
            "payments-v2",
            "internal",
            "my.internal.data",
        ] {
            assert!(filter.matches(topic), "{topic}");
        }
        for topic in [
            "__consumer_offsets",
            "__transaction_state",
            "mm2-offset-syncs.B.internal",
            "A.checkpoints.internal",
            "connect-offsets-internal",
            "orders.replica",
        ] {
            assert!(!filter.matches(topic), "{topic}");
        }
    }

    #[test]
    fn default_group_filter() {
        let filter = TopicFilter::groups_default();
        assert!(filter.matches("billing"));
        assert!(!filter.matches("console-consumer-12345"));
        assert!(!filter.matches("connect-mirror"));
        assert!(!filter.matches("__internal"));
    }

    #[test]
    fn patterns_match_whole_names() {
        let filter = TopicFilter::new("orders, pay.*", "").expect("valid");
        assert!(filter.matches("orders"));
        assert!(!filter.matches("orders-dlq"));
        assert!(!filter.matches("old-orders"));
        assert!(filter.matches("payments"));
        assert!(!filter.matches("prepay"));
    }

    #[test]
    fn alternation_stays_inside_the_anchors() {
        let filter = TopicFilter::new("a|b", "").expect("valid");
        assert!(filter.matches("a"));
        assert!(filter.matches("b"));
        assert!(!filter.matches("ab"));
        assert!(!filter.matches("xa"));
    }

    #[test]
    fn empty_lists() {
        let nothing_included = TopicFilter::new("", "").expect("valid");
        assert!(!nothing_included.matches("orders"));
        let nothing_excluded = TopicFilter::new(".*", " , ").expect("valid");
        assert!(nothing_excluded.matches("__consumer_offsets"));
        assert!(nothing_excluded.exclude().is_empty());
    }

    #[test]
    fn items_are_trimmed() {
        let list = PatternList::parse("  a ,b  ,\tc").expect("valid");
        assert_eq!(list.items(), ["a", "b", "c"]);
        assert!(list.matches("b"));
    }

    #[test]
    fn unbalanced_items_are_rejected() {
        let err = PatternList::parse("ok, a)|(b").unwrap_err();
        assert_eq!(err.item, "a)|(b");
        let err = PatternList::parse("[abc").unwrap_err();
        assert_eq!(err.item, "[abc");
        assert!(!err.message.contains('\n'), "{}", err.message);
    }

    #[test]
    fn bad_setting_names_file_line_and_key() {
        let setting = Setting {
            path: Path::new("mm2.properties"),
            key: "A->B.topics",
            value: "orders, (unclosed",
            line: Some(7),
        };
        let err = TopicFilter::from_settings(
            Some(&setting),
            None,
            TOPICS_DEFAULT,
            TOPICS_EXCLUDE_DEFAULT,
        )
        .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidValue { line: Some(7), key, .. } if key == "A->B.topics"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with("mm2.properties:7: key 'A->B.topics': '(unclosed'"),
            "{text}"
        );
    }

    #[test]
    fn absent_settings_use_the_defaults() {
        let filter = TopicFilter::from_settings(None, None, GROUPS_DEFAULT, GROUPS_EXCLUDE_DEFAULT)
            .expect("valid");
        assert!(!filter.matches("console-consumer-1"));
        assert!(filter.matches("app"));
    }
}
