//! Query strings and URL-encoded forms with repeated keys kept (`?tag=a&tag=b`,
//! `scope=…&scope=…`), and the paging parameters of lists.

use serde::Deserialize;

/// Parsed `key=value` pairs, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses a query string or an `application/x-www-form-urlencoded` body.
    pub fn parse(raw: &[u8]) -> Query {
        Query(form_urlencoded::parse(raw).into_owned().collect())
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Paging of a list: entries after `last`, at most `n` (default 100, at most 1,000); lists
/// that can be searched take the text `q`.
#[derive(Debug, Default, Deserialize)]
pub struct Page {
    pub last: Option<String>,
    pub n: Option<i64>,
    pub q: Option<String>,
}

impl Page {
    /// The search text (empty: no search).
    pub fn search(&self) -> &str {
        self.q.as_deref().unwrap_or("").trim()
    }

    pub fn after(&self) -> &str {
        self.last.as_deref().unwrap_or("")
    }

    pub fn limit(&self) -> i64 {
        self.n.unwrap_or(100).clamp(1, 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys() {
        let q = Query::parse(b"tag=a&tag=b&n=2&last=x%2By");
        assert_eq!(q.all("tag"), vec!["a", "b"]);
        assert_eq!(q.get("last"), Some("x+y"));
        assert_eq!(q.get("none"), None);
        let p = Page {
            last: None,
            n: Some(5000),
            q: None,
        };
        assert_eq!((p.after(), p.limit()), ("", 1000));
    }
}
