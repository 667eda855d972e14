//! Token revocation: a table shared by every server, mirrored in memory for the hot path.
//!
//! Fernet tokens are checked without a database read, so a revoked token can only be refused
//! if every server knows about the revocation. Each revocation is a row of
//! `identity_revocations`, one of:
//!
//! - `audit`: the token with this audit id (and tokens rescoped from it) is revoked
//!   (`DELETE /v3/auth/tokens`);
//! - `user`: every token of this user issued at or before `issued_before` (user deleted,
//!   disabled, password changed);
//! - `project`: every token scoped to this project issued at or before `issued_before`
//!   (project deleted or disabled);
//! - `assignment`: every token of one user scoped to one project issued at or before
//!   `issued_before` (a role assignment removed); the subject is `<user id> <project id>`.
//!
//! A server writes the row, then adds it to its own in-memory set at once; other servers merge
//! the table into theirs on their periodic refresh ([`crate::Identity::refresh`]). Merging is a
//! union, so a refresh that read the table just before a local revocation cannot drop it. Rows
//! and in-memory entries older than the longest token lifetime protect nothing any more (every
//! token they could match has expired) and are pruned.

use std::collections::HashMap;
use std::sync::RwLock;

use sqlx::Row;

use crate::token::{audit_id_text, parse_audit_id, TokenPayload, TokenScope};
use crate::IdentityError;

/// What a revocation row targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevocationKind {
    /// One token (and its rescoped descendants) by audit id.
    Audit,
    /// All tokens of a user issued up to a time.
    User,
    /// All tokens scoped to a project issued up to a time.
    Project,
    /// All tokens of one user scoped to one project issued up to a time; the subject is
    /// `<user id> <project id>` ([`assignment_subject`]).
    Assignment,
}

/// The subject of an [`RevocationKind::Assignment`] revocation.
pub(crate) fn assignment_subject(user_id: &str, project_id: &str) -> String {
    format!("{user_id} {project_id}")
}

impl RevocationKind {
    fn as_str(self) -> &'static str {
        match self {
            RevocationKind::Audit => "audit",
            RevocationKind::User => "user",
            RevocationKind::Project => "project",
            RevocationKind::Assignment => "assignment",
        }
    }

    fn parse(s: &str) -> Option<RevocationKind> {
        match s {
            "audit" => Some(RevocationKind::Audit),
            "user" => Some(RevocationKind::User),
            "project" => Some(RevocationKind::Project),
            "assignment" => Some(RevocationKind::Assignment),
            _ => None,
        }
    }
}

/// One revocation, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revocation {
    pub kind: RevocationKind,
    pub subject: String,
    /// Microseconds; tokens issued at or before it are revoked (unused for `Audit`).
    pub issued_before: i64,
    /// Microseconds; when the revocation was recorded (drives pruning).
    pub created_at: i64,
}

/// (issued_before, created_at), both microseconds.
type Cutoff = (i64, i64);

#[derive(Debug, Default)]
struct Sets {
    /// audit id -> created_at
    audit: HashMap<[u8; 16], i64>,
    users: HashMap<String, Cutoff>,
    projects: HashMap<String, Cutoff>,
    /// user id -> project id -> cutoff
    assignments: HashMap<String, HashMap<String, Cutoff>>,
}

fn merge_cutoff(map: &mut HashMap<String, Cutoff>, subject: &str, cutoff: Cutoff) {
    let entry = map.entry(subject.to_string()).or_insert(cutoff);
    entry.0 = entry.0.max(cutoff.0);
    entry.1 = entry.1.max(cutoff.1);
}

/// The in-memory revocation list. Reads (every token check) take a shared lock only.
#[derive(Debug, Default)]
pub(crate) struct RevocationList {
    sets: RwLock<Sets>,
}

impl RevocationList {
    /// True if any known revocation matches the token.
    pub(crate) fn is_revoked(&self, token: &TokenPayload) -> bool {
        let sets = self.sets.read().unwrap_or_else(|e| e.into_inner());
        if sets.audit.contains_key(&token.audit_id) {
            return true;
        }
        if token.parent_audit_id.is_some_and(|p| sets.audit.contains_key(&p)) {
            return true;
        }
        if sets.users.get(&token.user_id).is_some_and(|(before, _)| token.issued_at <= *before) {
            return true;
        }
        if let TokenScope::Project(project) = &token.scope {
            if sets.projects.get(project).is_some_and(|(before, _)| token.issued_at <= *before) {
                return true;
            }
            if sets
                .assignments
                .get(&token.user_id)
                .and_then(|projects| projects.get(project))
                .is_some_and(|(before, _)| token.issued_at <= *before)
            {
                return true;
            }
        }
        false
    }

    /// Adds revocations (union with what is known).
    pub(crate) fn merge(&self, revocations: &[Revocation]) {
        let mut sets = self.sets.write().unwrap_or_else(|e| e.into_inner());
        for r in revocations {
            match r.kind {
                RevocationKind::Audit => {
                    if let Some(id) = parse_audit_id(&r.subject) {
                        let created = sets.audit.entry(id).or_insert(r.created_at);
                        *created = (*created).max(r.created_at);
                    }
                }
                RevocationKind::User => {
                    merge_cutoff(&mut sets.users, &r.subject, (r.issued_before, r.created_at))
                }
                RevocationKind::Project => {
                    merge_cutoff(&mut sets.projects, &r.subject, (r.issued_before, r.created_at))
                }
                RevocationKind::Assignment => {
                    if let Some((user, project)) = r.subject.split_once(' ') {
                        let projects = sets.assignments.entry(user.to_string()).or_default();
                        merge_cutoff(projects, project, (r.issued_before, r.created_at));
                    }
                }
            }
        }
    }

    /// Forgets revocations recorded before `created_before` (microseconds).
    pub(crate) fn prune(&self, created_before: i64) {
        let mut sets = self.sets.write().unwrap_or_else(|e| e.into_inner());
        sets.audit.retain(|_, created| *created >= created_before);
        sets.users.retain(|_, (_, created)| *created >= created_before);
        sets.projects.retain(|_, (_, created)| *created >= created_before);
        sets.assignments.retain(|_, projects| {
            projects.retain(|_, (_, created)| *created >= created_before);
            !projects.is_empty()
        });
    }

    /// Number of entries held (for tests and logs).
    pub(crate) fn len(&self) -> usize {
        let sets = self.sets.read().unwrap_or_else(|e| e.into_inner());
        let assignments: usize = sets.assignments.values().map(HashMap::len).sum();
        sets.audit.len() + sets.users.len() + sets.projects.len() + assignments
    }
}

/// An audit-id revocation for a token.
pub(crate) fn audit_revocation(audit_id: &[u8; 16], now: i64) -> Revocation {
    Revocation {
        kind: RevocationKind::Audit,
        subject: audit_id_text(audit_id),
        issued_before: now,
        created_at: now,
    }
}

/// Stores a revocation row.
pub(crate) async fn insert(db: &nt_store::Db, r: &Revocation) -> Result<(), IdentityError> {
    sqlx::query(
        "INSERT INTO identity_revocations (id, kind, subject, issued_before, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(crate::new_id())
    .bind(r.kind.as_str())
    .bind(&r.subject)
    .bind(r.issued_before)
    .bind(r.created_at)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Reads every revocation recorded at or after `since` (microseconds).
pub(crate) async fn load(db: &nt_store::Db, since: i64) -> Result<Vec<Revocation>, IdentityError> {
    let rows = sqlx::query(
        "SELECT kind, subject, issued_before, created_at FROM identity_revocations \
         WHERE created_at >= $1",
    )
    .bind(since)
    .fetch_all(db.reader())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let Some(kind) = RevocationKind::parse(&kind) else {
            tracing::warn!(kind, "ignoring revocation of unknown kind");
            continue;
        };
        out.push(Revocation {
            kind,
            subject: row.try_get("subject")?,
            issued_before: row.try_get("issued_before")?,
            created_at: row.try_get("created_at")?,
        });
    }
    Ok(out)
}

/// Deletes rows recorded before `created_before` (microseconds); returns how many.
pub(crate) async fn prune_table(
    db: &nt_store::Db,
    created_before: i64,
) -> Result<u64, IdentityError> {
    let done = sqlx::query("DELETE FROM identity_revocations WHERE created_at < $1")
        .bind(created_before)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::methods_mask;

    fn token(user: &str, project: &str, issued_at: i64) -> TokenPayload {
        TokenPayload {
            user_id: user.into(),
            scope: TokenScope::Project(project.into()),
            issued_at,
            expires_at: issued_at + 3_600_000_000,
            audit_id: rand::random(),
            parent_audit_id: None,
            methods: methods_mask(["password"]),
            roles: vec!["member".into()],
        }
    }

    #[test]
    fn audit_revocation_matches_token_and_its_rescoped_children() {
        let list = RevocationList::default();
        let parent = token("u", "p", 100);
        let mut child = token("u", "p2", 200);
        child.parent_audit_id = Some(parent.audit_id);
        let other = token("u", "p", 100);
        assert!(!list.is_revoked(&parent));
        list.merge(&[audit_revocation(&parent.audit_id, 300)]);
        assert!(list.is_revoked(&parent));
        assert!(list.is_revoked(&child));
        assert!(!list.is_revoked(&other));
    }

    #[test]
    fn user_and_project_cutoffs_spare_later_tokens() {
        let list = RevocationList::default();
        let old = token("u1", "p1", 100);
        let new = token("u1", "p1", 201);
        let other_user = token("u2", "p2", 100);
        list.merge(&[Revocation {
            kind: RevocationKind::User,
            subject: "u1".into(),
            issued_before: 200,
            created_at: 200,
        }]);
        assert!(list.is_revoked(&old));
        assert!(!list.is_revoked(&new));
        assert!(!list.is_revoked(&other_user));
        list.merge(&[Revocation {
            kind: RevocationKind::Project,
            subject: "p2".into(),
            issued_before: 150,
            created_at: 150,
        }]);
        assert!(list.is_revoked(&other_user));
        // An older cutoff merged later does not shorten a newer one.
        list.merge(&[Revocation {
            kind: RevocationKind::User,
            subject: "u1".into(),
            issued_before: 50,
            created_at: 50,
        }]);
        assert!(list.is_revoked(&old));
    }

    #[test]
    fn assignment_cutoff_hits_one_user_on_one_project() {
        let list = RevocationList::default();
        let hit = token("u1", "p1", 100);
        let same_user_other_project = token("u1", "p2", 100);
        let other_user_same_project = token("u2", "p1", 100);
        let later = token("u1", "p1", 300);
        list.merge(&[Revocation {
            kind: RevocationKind::Assignment,
            subject: assignment_subject("u1", "p1"),
            issued_before: 200,
            created_at: 200,
        }]);
        assert!(list.is_revoked(&hit));
        assert!(!list.is_revoked(&same_user_other_project));
        assert!(!list.is_revoked(&other_user_same_project));
        assert!(!list.is_revoked(&later));
        assert_eq!(list.len(), 1);
        list.prune(201);
        assert_eq!(list.len(), 0);
        assert!(!list.is_revoked(&hit));
    }

    #[test]
    fn pruning_drops_old_entries_only() {
        let list = RevocationList::default();
        let t1 = token("u", "p", 1);
        let t2 = token("u", "p", 1);
        list.merge(&[audit_revocation(&t1.audit_id, 10), audit_revocation(&t2.audit_id, 20)]);
        list.prune(15);
        assert_eq!(list.len(), 1);
        assert!(!list.is_revoked(&t1));
        assert!(list.is_revoked(&t2));
    }
}
