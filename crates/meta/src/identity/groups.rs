//! Groups of users, local or mirrored from a directory (LDAP/AD), and who belongs to them.
//!
//! A group can be a member of an org (see `members`); its users then hold that role too. A
//! directory login replaces the user's memberships with the groups the directory reports.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now_ms, Meta, MetaError};

/// A group of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub external_dn: Option<String>,
}

/// A mirrored group's match on its directory DN (`$1`), without case (migration 0006 indexes
/// `lower(external_dn)`).
pub(super) const BY_DN: &str = "lower(external_dn) = lower($1)";

/// A `SELECT id, name, external_dn …` row as a group.
fn group_row(r: &AnyRow) -> Result<GroupRow, MetaError> {
    Ok(GroupRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        external_dn: r.try_get(2)?,
    })
}

impl Meta {
    /// The group named `name`, created if missing.
    pub async fn ensure_group(&self, name: &str, dn: Option<&str>) -> Result<GroupRow, MetaError> {
        self.timed(async move {
            sqlx::query(
                "INSERT INTO user_groups (name, external_dn, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(dn)
            .bind(now_ms())
            .execute(&self.write)
            .await?;
            let r = sqlx::query("SELECT id, name, external_dn FROM user_groups WHERE name = $1")
                .bind(name)
                .fetch_one(&self.write)
                .await?;
            group_row(&r)
        })
        .await
    }

    /// The group mirroring directory group `dn` (compared without case), if any.
    pub async fn group_by_external_dn(&self, dn: &str) -> Result<Option<GroupRow>, MetaError> {
        self.timed(async move {
            let r = sqlx::query(&format!(
                "SELECT id, name, external_dn FROM user_groups WHERE {BY_DN}"
            ))
            .bind(dn)
            .fetch_optional(&self.read)
            .await?;
            r.as_ref().map(group_row).transpose()
        })
        .await
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<GroupRow>, MetaError> {
        self.timed(async move {
            let r = sqlx::query("SELECT id, name, external_dn FROM user_groups WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
            r.as_ref().map(group_row).transpose()
        })
        .await
    }

    /// Makes `user_id` a member of exactly the groups `group_ids` (a directory login syncs
    /// this), or adds one membership when `replace` is false.
    pub async fn set_group_memberships(
        &self,
        user_id: i64,
        group_ids: &[i64],
        replace: bool,
    ) -> Result<(), MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            if replace {
                sqlx::query("DELETE FROM group_members WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            for g in group_ids {
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(g)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// A page of groups by name (those after `after`, at most `limit`), each with its member
    /// user names: two bounded queries, the members only of the page's groups.
    pub async fn list_groups(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(GroupRow, Vec<String>)>, MetaError> {
        self.timed(async move {
            let groups = sqlx::query(
                "SELECT id, name, external_dn FROM user_groups WHERE name > $1 ORDER BY name LIMIT $2",
            )
            .bind(after)
            .bind(limit.max(0))
            .fetch_all(&self.read)
            .await?;
            let mut out = Vec::with_capacity(groups.len());
            for g in &groups {
                out.push((
                    group_row(g)?,
                    Vec::new(),
                ));
            }
            let (Some(first), Some(last)) = (out.first(), out.last()) else {
                return Ok(out);
            };
            let members = sqlx::query(
                "SELECT gm.group_id, u.name FROM group_members gm \
                 JOIN user_groups g ON g.id = gm.group_id JOIN users u ON u.id = gm.user_id \
                 WHERE g.name >= $1 AND g.name <= $2 ORDER BY u.name",
            )
            .bind(first.0.name.clone())
            .bind(last.0.name.clone())
            .fetch_all(&self.read)
            .await?;
            for m in &members {
                let id: i64 = m.try_get(0)?;
                if let Some(entry) = out.iter_mut().find(|(g, _)| g.id == id) {
                    entry.1.push(m.try_get(1)?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Removes `user_id` from group `group_id`; false when it was not a member.
    pub async fn remove_group_member(
        &self,
        group_id: i64,
        user_id: i64,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(user_id)
                .execute(&self.write)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::identity::{test_meta, test_user};
    use crate::Meta;

    /// Each group's number of members, groups by name.
    async fn sizes(m: &Meta) -> Vec<usize> {
        let groups = m.list_groups("", 100).await.unwrap();
        groups.into_iter().map(|(_, names)| names.len()).collect()
    }

    #[tokio::test]
    async fn ensure_group_is_idempotent_and_keeps_the_first_dn() {
        let (_d, m) = test_meta().await;
        let g = m.ensure_group("devs", Some("cn=devs,dc=x")).await.unwrap();
        assert_eq!(g.name, "devs");
        assert_eq!(g.external_dn.as_deref(), Some("cn=devs,dc=x"));
        let again = m.ensure_group("devs", Some("cn=other")).await.unwrap();
        assert_eq!(again, g);
        assert_eq!(m.group_by_name("devs").await.unwrap(), Some(g));
        assert_eq!(m.group_by_name("ops").await.unwrap(), None);
        assert_eq!(m.list_groups("", 100).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn memberships_are_replaced_or_added() {
        let (_d, m) = test_meta().await;
        let u = m.create_user(&test_user("ann")).await.unwrap();
        let a = m.ensure_group("a", None).await.unwrap();
        let b = m.ensure_group("b", None).await.unwrap();
        let c = m.ensure_group("c", None).await.unwrap();
        m.set_group_memberships(u.id, &[a.id, b.id], true)
            .await
            .unwrap();
        assert_eq!(sizes(&m).await, [1, 1, 0]);
        // Adding keeps the others and tolerates a membership that exists.
        m.set_group_memberships(u.id, &[b.id, c.id], false)
            .await
            .unwrap();
        assert_eq!(sizes(&m).await, [1, 1, 1]);
        // Replacing drops every group not listed.
        m.set_group_memberships(u.id, &[c.id], true).await.unwrap();
        assert_eq!(sizes(&m).await, [0, 0, 1]);
        m.set_group_memberships(u.id, &[], true).await.unwrap();
        assert_eq!(sizes(&m).await, [0, 0, 0]);
    }

    #[tokio::test]
    async fn list_groups_names_members_in_order_and_removal_reports_change() {
        let (_d, m) = test_meta().await;
        let zed = m.create_user(&test_user("zed")).await.unwrap();
        let amy = m.create_user(&test_user("amy")).await.unwrap();
        let ops = m.ensure_group("ops", None).await.unwrap();
        let devs = m.ensure_group("devs", None).await.unwrap();
        for u in [zed.id, amy.id] {
            m.set_group_memberships(u, &[ops.id], false).await.unwrap();
        }
        m.set_group_memberships(zed.id, &[devs.id], false)
            .await
            .unwrap();

        let groups = m.list_groups("", 100).await.unwrap();
        assert_eq!(groups[0], (devs.clone(), vec!["zed".to_string()]));
        assert_eq!(
            groups[1],
            (ops.clone(), vec!["amy".to_string(), "zed".to_string()])
        );

        assert!(m.remove_group_member(ops.id, zed.id).await.unwrap());
        assert!(!m.remove_group_member(ops.id, zed.id).await.unwrap());
        let groups = m.list_groups("", 100).await.unwrap();
        assert_eq!(groups[1].1, ["amy"]);
        assert_eq!(groups[0].1, ["zed"]);

        // Pages: each holds its own groups' members and nothing of the others.
        let first = m.list_groups("", 1).await.unwrap();
        assert_eq!(first, [(devs, vec!["zed".to_string()])]);
        let second = m.list_groups("devs", 1).await.unwrap();
        assert_eq!(second, [(ops, vec!["amy".to_string()])]);
        assert!(m.list_groups("ops", 1).await.unwrap().is_empty());
    }
}
