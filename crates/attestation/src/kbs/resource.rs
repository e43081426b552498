//! Resource paths `<repo>/<type>/<tag>` of `GET /kbs/v0/resource/...`.
//!
//! A path names a key in verdictd's store and is checked by the resource policy, so it is
//! parsed once into a type that cannot hold `..`, empty segments or odd characters.

use std::fmt;
use std::str::FromStr;

use super::KbsError;

/// Longest segment accepted.
pub const MAX_SEGMENT_LEN: usize = 128;

/// A validated resource path: three segments of `[A-Za-z0-9._-]`, none of them `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePath {
    repository: String,
    kind: String,
    tag: String,
}

impl ResourcePath {
    /// Build from the three segments.
    pub fn new(repository: &str, kind: &str, tag: &str) -> Result<Self, KbsError> {
        Ok(Self {
            repository: segment("repository", repository)?,
            kind: segment("type", kind)?,
            tag: segment("tag", tag)?,
        })
    }

    /// Parse `repo/type/tag`, also accepting a leading `/` and the `kbs:///` URI form.
    pub fn parse(text: &str) -> Result<Self, KbsError> {
        let trimmed = text
            .strip_prefix("kbs:///")
            .or_else(|| text.strip_prefix('/'))
            .unwrap_or(text);
        let mut parts = trimmed.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(repo), Some(kind), Some(tag), None) => Self::new(repo, kind, tag),
            _ => Err(KbsError::InvalidResourcePath {
                path: truncate(text),
                reason: "expected <repository>/<type>/<tag>".to_owned(),
            }),
        }
    }

    /// The repository segment.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The type segment.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The tag segment.
    pub fn tag(&self) -> &str {
        &self.tag
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.repository, self.kind, self.tag)
    }
}

impl FromStr for ResourcePath {
    type Err = KbsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn segment(name: &'static str, value: &str) -> Result<String, KbsError> {
    let fail = |reason: String| KbsError::InvalidResourcePath {
        path: truncate(value),
        reason: format!("{name} {reason}"),
    };
    if value.is_empty() {
        return Err(fail("is empty".to_owned()));
    }
    if value.len() > MAX_SEGMENT_LEN {
        return Err(fail(format!("is longer than {MAX_SEGMENT_LEN} bytes")));
    }
    if value == "." || value == ".." {
        return Err(fail("may not be . or ..".to_owned()));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(fail(format!(
            "contains {c:?}: only letters, digits, '.', '_' and '-' are allowed"
        )));
    }
    Ok(value.to_owned())
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        for text in ["default/key/1", "/default/key/1", "kbs:///default/key/1"] {
            let path = ResourcePath::parse(text).unwrap();
            assert_eq!(path.to_string(), "default/key/1");
            assert_eq!(path.kind(), "key");
        }
    }

    #[test]
    fn rejects_traversal_and_odd_names() {
        for bad in [
            "../key/1", "a/../b", "a/b", "a/b/c/d", "a//c", "a/b/c%2f", "a/b/ c", "a/./c",
        ] {
            let err = ResourcePath::parse(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid resource path"),
                "{bad}: {err}"
            );
        }
        let err = ResourcePath::parse("a/../c").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid resource path \"..\": type may not be . or .."
        );
    }
}
