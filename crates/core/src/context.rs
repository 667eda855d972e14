//! Who is asking: the operation context every service call takes first.

/// The caller of an operation, from its token, plus the request id for logs.
#[derive(Debug, Clone)]
pub struct OpContext {
    /// User id.
    pub user_id: String,
    /// Project the token is scoped to.
    pub project_id: String,
    /// Effective role names (implied roles included), lower-case.
    pub roles: Vec<String>,
    /// `req-<uuid>` of the HTTP request.
    pub request_id: String,
}

impl OpContext {
    /// True when the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Cloud-wide admin.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// Another OpenStack service (Nova, …).
    pub fn is_service(&self) -> bool {
        self.has_role("service")
    }

    /// May read everything (admin or service).
    pub fn is_privileged(&self) -> bool {
        self.is_admin() || self.is_service()
    }

    /// May change resources of its project (member or more).
    pub fn can_write(&self) -> bool {
        self.is_admin() || self.is_service() || self.has_role("member")
    }

    /// The caller facts the attribute checks need.
    pub fn caller(&self) -> nt_types::attr::Caller<'_> {
        nt_types::attr::Caller {
            project_id: &self.project_id,
            is_admin: self.is_admin(),
            is_service: self.is_service(),
        }
    }

    /// A context acting as admin of `project_id`, for internal jobs and tests.
    pub fn admin(project_id: &str) -> OpContext {
        OpContext {
            user_id: "neutrino".into(),
            project_id: project_id.into(),
            roles: vec!["admin".into(), "member".into(), "reader".into()],
            request_id: format!("req-{}", uuid::Uuid::new_v4()),
        }
    }
}
