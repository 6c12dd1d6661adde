//! Org membership: which users and groups belong to an org, and with which role.
//!
//! A member is a `(kind, member_id)` pair, `kind` being `user` or `group`; a user holds the
//! roles of their direct membership and of every group of theirs that is a member.

use sqlx::{Any, Row, Transaction};

use crate::{now_ms, Meta, MetaError};

/// One member of an org: a user or a group, with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// `user` or `group`.
    pub kind: String,
    pub name: String,
    pub role: String,
    pub created_at: i64,
}

/// Org ids `$3` (a user id) is a member of, directly or through a group.
pub(crate) const MEMBER_ORGS: &str =
    "SELECT org_id FROM org_members WHERE (kind = 'user' AND member_id = $3) \
     OR (kind = 'group' AND member_id IN (SELECT group_id FROM group_members WHERE user_id = $3))";

impl Meta {
    /// Adds or changes a member's role. `kind` is `user` or `group`.
    pub async fn set_member(
        &self,
        org_id: i64,
        kind: &str,
        member_id: i64,
        role: &str,
    ) -> Result<(), MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            set_member_tx(&mut tx, org_id, kind, member_id, role).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Removes a member; false when it was not one.
    pub async fn remove_member(
        &self,
        org_id: i64,
        kind: &str,
        member_id: i64,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query(
                "DELETE FROM org_members WHERE org_id = $1 AND kind = $2 AND member_id = $3",
            )
            .bind(org_id)
            .bind(kind)
            .bind(member_id)
            .execute(&self.write)
            .await?
            .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// The org's members, users then groups, by name.
    pub async fn list_members(&self, org_id: i64) -> Result<Vec<MemberRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT m.kind, u.name, m.role, m.created_at FROM org_members m JOIN users u \
                   ON m.kind = 'user' AND u.id = m.member_id WHERE m.org_id = $1 \
                 UNION ALL \
                 SELECT m.kind, g.name, m.role, m.created_at FROM org_members m JOIN user_groups g \
                   ON m.kind = 'group' AND g.id = m.member_id WHERE m.org_id = $1 \
                 ORDER BY 1 DESC, 2",
            )
            .bind(org_id)
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(MemberRow {
                        kind: r.try_get(0)?,
                        name: r.try_get(1)?,
                        role: r.try_get(2)?,
                        created_at: r.try_get(3)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// The roles `user_id` holds in `org_id`: directly and through each of their groups.
    pub async fn member_roles(&self, org_id: i64, user_id: i64) -> Result<Vec<String>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT role FROM org_members WHERE org_id = $1 AND \
                 ((kind = 'user' AND member_id = $2) OR \
                  (kind = 'group' AND member_id IN (SELECT group_id FROM group_members WHERE user_id = $2)))",
            )
            .bind(org_id)
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0).map_err(MetaError::from))
                .collect()
        })
        .await
    }
}

/// Adds or changes a member's role inside a write transaction.
pub(super) async fn set_member_tx(
    tx: &mut Transaction<'_, Any>,
    org_id: i64,
    kind: &str,
    member_id: i64,
    role: &str,
) -> Result<(), MetaError> {
    sqlx::query(
        "INSERT INTO org_members (org_id, kind, member_id, role, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_id, kind, member_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org_id)
    .bind(kind)
    .bind(member_id)
    .bind(role)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::identity::{test_meta, test_user};
    use crate::MemberRow;

    /// `(kind, name, role)` of each member, in listing order.
    fn summary(rows: &[MemberRow]) -> Vec<(&str, &str, &str)> {
        rows.iter()
            .map(|r| (r.kind.as_str(), r.name.as_str(), r.role.as_str()))
            .collect()
    }

    #[tokio::test]
    async fn set_member_adds_then_replaces_the_role() {
        let (_d, m) = test_meta().await;
        let ann = m.create_user(&test_user("ann")).await.unwrap();
        let team = m.create_org("team", false, None).await.unwrap();
        m.set_member(team.id, "user", ann.id, "reader")
            .await
            .unwrap();
        let rows = m.list_members(team.id).await.unwrap();
        assert_eq!(summary(&rows), [("user", "ann", "reader")]);

        m.set_member(team.id, "user", ann.id, "writer")
            .await
            .unwrap();
        let rows = m.list_members(team.id).await.unwrap();
        assert_eq!(summary(&rows), [("user", "ann", "writer")]);
        assert_eq!(m.member_roles(team.id, ann.id).await.unwrap(), ["writer"]);
    }

    #[tokio::test]
    async fn remove_member_reports_whether_there_was_one() {
        let (_d, m) = test_meta().await;
        let ann = m.create_user(&test_user("ann")).await.unwrap();
        let team = m.create_org("team", false, Some(ann.id)).await.unwrap();
        // Same id, other kind: not a member.
        assert!(!m.remove_member(team.id, "group", ann.id).await.unwrap());
        assert!(m.remove_member(team.id, "user", ann.id).await.unwrap());
        assert!(!m.remove_member(team.id, "user", ann.id).await.unwrap());
        assert!(m.list_members(team.id).await.unwrap().is_empty());
        // The personal org's membership is untouched.
        let own = m.org_by_name("ann").await.unwrap().unwrap();
        assert_eq!(m.member_roles(own.id, ann.id).await.unwrap(), ["admin"]);
    }

    #[tokio::test]
    async fn list_members_lists_users_then_groups_by_name() {
        let (_d, m) = test_meta().await;
        let zed = m.create_user(&test_user("zed")).await.unwrap();
        let amy = m.create_user(&test_user("amy")).await.unwrap();
        let ops = m.ensure_group("ops", None).await.unwrap();
        let devs = m.ensure_group("devs", None).await.unwrap();
        let team = m.create_org("team", false, None).await.unwrap();
        let other = m.create_org("other", false, None).await.unwrap();
        m.set_member(team.id, "group", ops.id, "writer")
            .await
            .unwrap();
        m.set_member(team.id, "user", zed.id, "reader")
            .await
            .unwrap();
        m.set_member(team.id, "group", devs.id, "reader")
            .await
            .unwrap();
        m.set_member(team.id, "user", amy.id, "admin")
            .await
            .unwrap();
        m.set_member(other.id, "user", amy.id, "reader")
            .await
            .unwrap();

        let rows = m.list_members(team.id).await.unwrap();
        assert_eq!(
            summary(&rows),
            [
                ("user", "amy", "admin"),
                ("user", "zed", "reader"),
                ("group", "devs", "reader"),
                ("group", "ops", "writer"),
            ]
        );
    }

    #[tokio::test]
    async fn member_roles_include_the_roles_of_the_users_groups() {
        let (_d, m) = test_meta().await;
        let ann = m.create_user(&test_user("ann")).await.unwrap();
        let bob = m.create_user(&test_user("bob")).await.unwrap();
        let devs = m.ensure_group("devs", None).await.unwrap();
        let ops = m.ensure_group("ops", None).await.unwrap();
        m.set_group_memberships(ann.id, &[devs.id], true)
            .await
            .unwrap();
        let team = m.create_org("team", false, None).await.unwrap();
        m.set_member(team.id, "user", ann.id, "reader")
            .await
            .unwrap();
        m.set_member(team.id, "group", devs.id, "writer")
            .await
            .unwrap();
        m.set_member(team.id, "group", ops.id, "admin")
            .await
            .unwrap();

        let mut roles = m.member_roles(team.id, ann.id).await.unwrap();
        roles.sort();
        assert_eq!(roles, ["reader", "writer"]);
        assert!(m.member_roles(team.id, bob.id).await.unwrap().is_empty());
        let own = m.org_by_name("bob").await.unwrap().unwrap();
        assert!(m.member_roles(own.id, ann.id).await.unwrap().is_empty());

        m.remove_group_member(devs.id, ann.id).await.unwrap();
        assert_eq!(m.member_roles(team.id, ann.id).await.unwrap(), ["reader"]);
        m.set_group_memberships(bob.id, &[ops.id], true)
            .await
            .unwrap();
        assert_eq!(m.member_roles(team.id, bob.id).await.unwrap(), ["admin"]);
    }
}
