//! Lists, one page at a time: the tags of a repository, the repositories a caller may see,
//! the manifests that refer to a subject. Each is read with one row more than the page, so
//! the caller learns whether another page follows without counting the table.

use berth_core::{Digest, RepoName};
use berth_meta::{ReferrerRow, Visibility};

use super::{Error, Service};

/// One page of a list, sorted bytewise; `more` says whether entries follow the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Page<T> {
    /// `rows` fetched with a limit of `n + 1`: keeps the first `n`.
    fn of(mut rows: Vec<T>, n: i64) -> Page<T> {
        let n = n.max(0) as usize;
        let more = rows.len() > n;
        rows.truncate(n);
        Page { items: rows, more }
    }

    fn empty() -> Page<T> {
        Page {
            items: Vec::new(),
            more: false,
        }
    }
}

impl Service {
    /// Up to `n` tags of `repo` sorted after `last` ([`Error::RepoUnknown`] for a repository
    /// that does not exist; an empty page for `n == 0`).
    pub async fn tags(&self, repo: &RepoName, last: &str, n: i64) -> Result<Page<String>, Error> {
        if !self.meta.repo_exists(repo.as_str()).await? {
            return Err(Error::RepoUnknown {
                repo: repo.to_string(),
            });
        }
        if n <= 0 {
            return Ok(Page::empty());
        }
        let rows = self.meta.list_tags(repo.as_str(), last, n + 1).await?;
        Ok(Page::of(rows, n))
    }

    /// Up to `n` repository names sorted after `last`, among those `visibility` lets through.
    pub async fn repositories(
        &self,
        visibility: &Visibility,
        last: &str,
        n: i64,
    ) -> Result<Page<String>, Error> {
        if n <= 0 {
            return Ok(Page::empty());
        }
        let rows = self
            .meta
            .list_repos_visible(last, n + 1, visibility)
            .await?;
        Ok(Page::of(rows, n))
    }

    /// One page (the configured referrers page size) of the manifests of `repo` whose subject
    /// is `subject`, sorted by digest after `last`, of `artifact_type` when given. A subject
    /// nothing refers to has an empty list, not an error.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
        last: &str,
    ) -> Result<Page<ReferrerRow>, Error> {
        let n = self.config.referrers_page_size;
        let rows = self
            .meta
            .referrers(
                repo.as_str(),
                &subject.to_string(),
                artifact_type,
                last,
                n + 1,
            )
            .await?;
        Ok(Page::of(rows, n))
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn a_page_keeps_n_and_says_whether_more_follow() {
        assert_eq!(
            Page::of(vec![1, 2, 3], 2),
            Page {
                items: vec![1, 2],
                more: true
            }
        );
        assert_eq!(
            Page::of(vec![1, 2], 2),
            Page {
                items: vec![1, 2],
                more: false
            }
        );
        assert_eq!(Page::<u8>::of(vec![], 5), Page::empty());
        assert_eq!(Page::of(vec![1], 0).items, Vec::<i32>::new());
    }
}
