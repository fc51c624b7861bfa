//! A search as typed: terms (words, or "quoted phrases"), and the shortcuts `from:ada` and `in:design`.
//! Only its length is ever refused: a query with nothing to look for finds nothing.
//! Terms are folded as the index is; a term matches where it occurs anywhere in a message's folded text,
//! so a word, a prefix (`depl`), a file name (`foo.png`), code (`C++20`) and a URL all work alike.

use super::fold::fold;

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;

/// A parsed query.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Folded terms, each to be found (all of them).
    pub terms: Vec<String>,
    /// `from:`: the author's name.
    pub from: Option<String>,
    /// `in:`: the room's name.
    pub room: Option<String>,
}

/// Why a query cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Too long.
    #[error("a query is at most {MAX_QUERY_CHARS} characters")]
    TooLong,
}

impl Query {
    /// Parses `q`.
    pub fn parse(q: &str) -> Result<Self, QueryError> {
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let mut query = Self::default();
        let mut rest = q.trim();
        while !rest.is_empty() {
            let (token, quoted, after) = match rest.strip_prefix('"') {
                Some(inner) => match inner.find('"') {
                    Some(end) => (&inner[..end], true, &inner[end + 1..]),
                    None => (inner, true, ""),
                },
                None => {
                    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                    (&rest[..end], false, &rest[end..])
                }
            };
            rest = after.trim_start();
            if !quoted {
                if let Some(name) = token.strip_prefix("from:").filter(|n| !n.is_empty()) {
                    query.from = Some(name.trim_start_matches('@').to_owned());
                    continue;
                }
                if let Some(room) = token.strip_prefix("in:").filter(|r| !r.is_empty()) {
                    query.room = Some(room.trim_start_matches('#').to_owned());
                    continue;
                }
            }
            let term = fold(token.trim());
            if !term.is_empty() && !query.terms.contains(&term) {
                query.terms.push(term);
            }
        }
        Ok(query)
    }

    /// Whether the query can find anything without reading every message: it narrows to an author or a
    /// room, or holds a term of two characters or more. One that cannot finds nothing (and says so by
    /// an empty answer, as a query with no match does).
    pub fn searchable(&self) -> bool {
        self.from.is_some()
            || self.room.is_some()
            || self.terms.iter().any(|t| t.chars().count() >= 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_phrases_and_shortcuts() {
        let q =
            Query::parse(r#"Deploy "the Command" from:@ada in:#design C++20 foo.png"#).expect("q");
        assert_eq!(q.terms, ["deploy", "the command", "c++20", "foo.png"]);
        assert_eq!(q.from.as_deref(), Some("ada"));
        assert_eq!(q.room.as_deref(), Some("design"));
        assert!(!Query::parse("  ").expect("q").searchable());
        assert!(!Query::parse("\"\"").expect("q").searchable());
        assert_eq!(Query::parse(&"xy ".repeat(9)).map(|q| q.terms.len()), Ok(1));
        assert!(!Query::parse("x y").expect("q").searchable());
        assert!(Query::parse("x in:design").expect("q").searchable());
        assert_eq!(Query::parse(&"x".repeat(201)), Err(QueryError::TooLong));
        assert_eq!(Query::parse("from:bob").map(|q| q.terms.len()), Ok(0));
    }
}
