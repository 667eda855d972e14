//! Security groups and rules: the per-project default group (created on first need with its
//! four rules), create/list/show/update/delete, rule validation and normalisation, and the
//! "in use" checks. Rule changes count as changes of their group (its revision is bumped and
//! drivers see the group with all its rules).

use serde_json::{json, Map, Value};

use nt_store::security_groups::{
    ports_of_group, rule_delete, rule_get, rule_insert, rule_list, rule_with_key, rules_of_group,
    security_group_default, security_group_delete, security_group_get, security_group_insert,
    security_group_list, security_group_update,
};
use nt_store::{ResourceRow, Scope, StoreError, Tx};
use nt_types::attr::{check_body, strip_unreadable, Op};
use nt_types::net::Cidr;
use nt_types::query::ListQuery;
use nt_types::security_group::{
    SecurityGroup, SecurityGroupRule, ATTRS, IPV6_ONLY, PORT_PROTOCOLS, RULE_ATTRS,
};
use nt_types::{time, Error, ErrorKind};

use crate::ml2::SecurityGroupContext;
use crate::policy::{authorize, Target};
use crate::{check_if_match, from_row, retrying, to_map, Core, OpContext, TxError, ViewSink};

fn bad(ty: &'static str, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::BadRequest, ty, message)
}

fn get_str(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    attrs.get(key).and_then(Value::as_str).map(String::from)
}

/// The rules every default group starts with: all egress, and ingress from the group itself.
fn default_rules(group: &SecurityGroup, is_default: bool) -> Vec<SecurityGroupRule> {
    let now = time::now();
    let rule = |direction: &str, ethertype: &str, remote: Option<String>| SecurityGroupRule {
        id: uuid::Uuid::new_v4().to_string(),
        security_group_id: group.id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote,
        remote_address_group_id: None,
        description: String::new(),
        project_id: group.project_id.clone(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let mut rules = vec![rule("egress", "IPv4", None), rule("egress", "IPv6", None)];
    if is_default {
        rules.push(rule("ingress", "IPv4", Some(group.id.clone())));
        rules.push(rule("ingress", "IPv6", Some(group.id.clone())));
    }
    rules
}

/// Checks and normalises a rule (API notes §2.8).
fn normalize_rule(rule: &mut SecurityGroupRule) -> Result<(), Error> {
    let v6 = rule.ethertype == "IPv6";
    if let Some(p) = rule.protocol.clone() {
        if v6 && matches!(p.as_str(), "icmp" | "icmpv6" | "1") {
            rule.protocol = Some("ipv6-icmp".into());
        }
        if !v6 && (IPV6_ONLY.contains(&p.as_str()) || p == "58") {
            return Err(bad(
                "SecurityGroupRuleInvalidProtocol",
                format!("Protocol {p} is only supported with ethertype IPv6."),
            ));
        }
    }
    let protocol = rule.protocol.clone();
    let icmp = matches!(protocol.as_deref(), Some("icmp" | "ipv6-icmp" | "icmpv6" | "1" | "58"));
    let ported = protocol.as_deref().is_some_and(|p| PORT_PROTOCOLS.contains(&p));
    let (min, max) = (rule.port_range_min, rule.port_range_max);
    if protocol.is_none() && (min.is_some() || max.is_some()) {
        return Err(bad(
            "SecurityGroupProtocolRequiredWithPorts",
            "Must also specify protocol if port range is given.",
        ));
    }
    if ported {
        if min.is_some() || max.is_some() {
            let (Some(lo), Some(hi)) = (min, max) else {
                return Err(bad(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min and port_range_max must both be given",
                ));
            };
            if lo == 0 || hi == 0 {
                return Err(bad("SecurityGroupInvalidPortValue", "Invalid value for port 0"));
            }
            if lo > hi {
                return Err(bad(
                    "SecurityGroupInvalidPortRange",
                    "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                ));
            }
            if lo == 1 && hi == 65535 {
                rule.port_range_min = None;
                rule.port_range_max = None;
            }
        }
    } else if icmp {
        for (field, v) in [("type", min), ("code", max)] {
            if v.is_some_and(|v| v > 255) {
                return Err(bad(
                    "SecurityGroupInvalidIcmpValue",
                    format!(
                        "Invalid value for ICMP {field} (port_range_min): {}",
                        v.unwrap_or_default()
                    ),
                ));
            }
        }
        if min.is_none() && max.is_some() {
            return Err(bad(
                "SecurityGroupMissingIcmpType",
                format!("ICMP code (port-range-max) {} is provided but ICMP type (port-range-min) is missing.", max.unwrap_or_default()),
            ));
        }
    } else if min.is_some() || max.is_some() {
        return Err(bad(
            "SecurityGroupInvalidProtocolForPortRange",
            format!("Ports are not supported for protocol {}", protocol.unwrap_or_default()),
        ));
    }
    let remotes = [
        rule.remote_ip_prefix.is_some(),
        rule.remote_group_id.is_some(),
        rule.remote_address_group_id.is_some(),
    ];
    if remotes.iter().filter(|r| **r).count() > 1 {
        return Err(bad(
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            "Only one of remote_ip_prefix, remote_group_id and remote_address_group_id may be provided.",
        ));
    }
    if let Some(prefix) = &rule.remote_ip_prefix {
        let cidr = Cidr::parse_lenient(prefix).map_err(Error::bad_request)?;
        let want = if v6 { 6 } else { 4 };
        if cidr.version() != want {
            return Err(bad(
                "SecurityGroupRuleParameterConflict",
                format!("Conflicting value ethertype {} for CIDR {prefix}", rule.ethertype),
            ));
        }
    }
    Ok(())
}

impl Core {
    /// The default group of `project_id`, created (with its rules) if it does not exist yet.
    pub async fn security_group_default(&self, project_id: &str) -> Result<String, Error> {
        if let Some(row) = security_group_default(self.db().reader(), project_id)
            .await
            .map_err(crate::store_error)?
        {
            return Ok(row.id);
        }
        let now = time::now();
        let group = SecurityGroup {
            id: uuid::Uuid::new_v4().to_string(),
            name: "default".into(),
            description: "Default security group".into(),
            project_id: project_id.to_string(),
            stateful: true,
            tags: vec![],
            created_at: now.clone(),
            updated_at: now,
        };
        let rules = default_rules(&group, true);
        match self.security_group_insert_once(&group, &rules, true).await {
            Ok(c) => {
                self.mech.create_security_group_postcommit(&c).await;
                Ok(group.id)
            }
            // Another request created it first.
            Err(TxError::Store(StoreError::UniqueViolation { .. })) => {
                let row = security_group_default(self.db().reader(), project_id)
                    .await
                    .map_err(crate::store_error)?;
                row.map(|r| r.id).ok_or_else(|| Error::internal("default security group vanished"))
            }
            Err(TxError::Store(e)) => Err(crate::store_error(e)),
            Err(TxError::Domain(e)) => Err(e),
        }
    }

    async fn security_group_insert_once(
        &self,
        group: &SecurityGroup,
        rules: &[SecurityGroupRule],
        is_default: bool,
    ) -> Result<SecurityGroupContext, TxError> {
        let mut tx = self.db().begin().await?;
        let row = ResourceRow {
            id: group.id.clone(),
            project_id: group.project_id.clone(),
            revision_number: 0,
            body: Value::Object(to_map(group)),
        };
        self.quota_check(&mut tx, &group.project_id, "security_group", 1).await?;
        let rule_count = rules.len() as i64;
        self.quota_check(&mut tx, &group.project_id, "security_group_rule", rule_count).await?;
        security_group_insert(&mut tx, &row, is_default).await?;
        for r in rules {
            insert_rule(&mut tx, r).await?;
        }
        let c = SecurityGroupContext {
            current: group.clone(),
            rules: rules.to_vec(),
            revision_number: 0,
        };
        self.mech.create_security_group_precommit(&mut tx, &c).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(c)
    }

    /// Creates security groups.
    pub async fn security_group_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut views = Vec::new();
        for body in bodies {
            let attrs = check_body("security_group", ATTRS, body, Op::Create, ctx.caller())?;
            let name = get_str(&attrs, "name").unwrap_or_default();
            let project = get_str(&attrs, "project_id").unwrap_or_else(|| ctx.project_id.clone());
            if !ctx.is_privileged() {
                authorize(ctx, "create_security_group", &Target::project(&project))?;
            }
            if name.eq_ignore_ascii_case("default") {
                return Err(Error::conflict(
                    "SecurityGroupDefaultAlreadyExists",
                    "Default security group already exists.",
                ));
            }
            self.security_group_default(&project).await?;
            let now = time::now();
            let group = SecurityGroup {
                id: uuid::Uuid::new_v4().to_string(),
                name,
                description: get_str(&attrs, "description").unwrap_or_default(),
                project_id: project,
                stateful: attrs.get("stateful").and_then(Value::as_bool).unwrap_or(true),
                tags: vec![],
                created_at: now.clone(),
                updated_at: now,
            };
            let rules = default_rules(&group, false);
            let c = retrying!(self.security_group_insert_once(&group, &rules, false))?;
            self.mech.create_security_group_postcommit(&c).await;
            views.push(self.render_group(&c.current, 0, &c.rules, ctx));
        }
        Ok(views)
    }

    fn render_group(
        &self,
        g: &SecurityGroup,
        revision: i64,
        rules: &[SecurityGroupRule],
        ctx: &OpContext,
    ) -> Map<String, Value> {
        let mut view = to_map(g);
        view.insert("revision_number".into(), json!(revision));
        view.insert("tenant_id".into(), json!(g.project_id));
        view.insert("shared".into(), json!(false));
        let rules: Vec<Value> =
            rules.iter().map(|r| Value::Object(render_rule(r, 0, g.is_default(), ctx))).collect();
        view.insert("security_group_rules".into(), Value::Array(rules));
        strip_unreadable(ATTRS, &mut view, ctx.is_privileged());
        view
    }

    async fn load_rules(&self, group_id: &str) -> Result<Vec<SecurityGroupRule>, Error> {
        let rows =
            rules_of_group(self.db().reader(), group_id).await.map_err(crate::store_error)?;
        let mut rules: Vec<SecurityGroupRule> =
            rows.iter().map(from_row).collect::<Result<_, _>>().map_err(crate::store_error)?;
        rules.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(rules)
    }

    /// A group visible to `ctx` (its own project's, or any for admin), or 404.
    pub(crate) async fn visible_group(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<(SecurityGroup, i64), Error> {
        let not_found = || Error::not_found("SecurityGroup", id);
        let row = security_group_get(self.db().reader(), id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let group: SecurityGroup = from_row(&row).map_err(crate::store_error)?;
        if !(ctx.is_privileged() || group.project_id == ctx.project_id) {
            return Err(not_found());
        }
        Ok((group, row.revision_number))
    }

    /// Groups visible to `ctx`; the caller's default group is created on first listing.
    pub async fn security_group_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut ViewSink<'_>,
    ) -> Result<(), Error> {
        let project = match query.filter_values("project_id") {
            Some([Value::String(p)]) if ctx.is_admin() => p.clone(),
            _ => ctx.project_id.clone(),
        };
        self.security_group_default(&project).await?;
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let rows =
            security_group_list(self.db().reader(), scope).await.map_err(crate::store_error)?;
        let mut lister = crate::Lister::new(query, sink);
        for row in &rows {
            let group: SecurityGroup = from_row(row).map_err(crate::store_error)?;
            let rules = self.load_rules(&group.id).await?;
            lister.offer(self.render_group(&group, row.revision_number, &rules, ctx));
        }
        lister.finish("SecurityGroup")
    }

    /// One group.
    pub async fn security_group_show(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let (group, revision) = self.visible_group(ctx, id).await?;
        let rules = self.load_rules(id).await?;
        Ok(self.render_group(&group, revision, &rules, ctx))
    }

    /// Changes a group's name, description or statefulness.
    pub async fn security_group_update(
        &self,
        ctx: &OpContext,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        let attrs = check_body("security_group", ATTRS, body, Op::Update, ctx.caller())?;
        let (group, _) = self.visible_group(ctx, id).await?;
        authorize(ctx, "update_security_group", &Target::project(&group.project_id))?;
        if group.is_default() && get_str(&attrs, "name").is_some_and(|n| n != "default") {
            return Err(Error::conflict(
                "SecurityGroupCannotUpdateDefault",
                "Updating default security group not allowed.",
            ));
        }
        if get_str(&attrs, "name").is_some_and(|n| n.eq_ignore_ascii_case("default"))
            && !group.is_default()
        {
            return Err(Error::conflict(
                "SecurityGroupDefaultAlreadyExists",
                "Default security group already exists.",
            ));
        }
        let c = retrying!(self.security_group_change_once(id, if_match, &attrs, None))?;
        self.mech.update_security_group_postcommit(&c).await;
        Ok(self.render_group(&c.current, c.revision_number, &c.rules, ctx))
    }

    /// Applies `attrs` to a group and/or adds or removes a rule, bumping its revision.
    async fn security_group_change_once(
        &self,
        id: &str,
        if_match: Option<i64>,
        attrs: &Map<String, Value>,
        rule_change: Option<RuleChange<'_>>,
    ) -> Result<SecurityGroupContext, TxError> {
        let mut tx = self.db().begin().await?;
        let row = security_group_get(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::not_found("SecurityGroup", id))?;
        check_if_match(if_match, row.revision_number)?;
        let mut group: SecurityGroup = from_row(&row)?;
        if let Some(v) = get_str(attrs, "name") {
            group.name = v;
        }
        if let Some(v) = get_str(attrs, "description") {
            group.description = v;
        }
        if let Some(v) = attrs.get("stateful").and_then(Value::as_bool) {
            if v != group.stateful && !ports_of_group(&mut *tx, id).await?.is_empty() {
                return Err(Error::conflict(
                    "SecurityGroupInUse",
                    format!("Security Group {id} in use."),
                )
                .into());
            }
            group.stateful = v;
        }
        match rule_change {
            Some(RuleChange::Add(rule)) => {
                if let Some(existing) = rule_with_key(&mut *tx, id, &rule.key()).await? {
                    return Err(Error::conflict(
                        "SecurityGroupRuleExists",
                        format!("Security group rule already exists. Rule id is {existing}."),
                    )
                    .into());
                }
                self.quota_check(&mut tx, &rule.project_id, "security_group_rule", 1).await?;
                insert_rule(&mut tx, rule).await?;
            }
            Some(RuleChange::Remove(rule_id)) => {
                rule_delete(&mut tx, rule_id).await?;
            }
            None => {}
        }
        group.updated_at = time::now();
        let revision = row.revision_number + 1;
        let new_row = ResourceRow {
            revision_number: revision,
            body: Value::Object(to_map(&group)),
            ..row.clone()
        };
        security_group_update(&mut tx, &new_row, row.revision_number).await?;
        let rules: Vec<SecurityGroupRule> =
            rules_of_group(&mut *tx, id).await?.iter().map(from_row).collect::<Result<_, _>>()?;
        let c = SecurityGroupContext { current: group, rules, revision_number: revision };
        self.mech.update_security_group_precommit(&mut tx, &c).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(c)
    }

    /// Deletes a group; 409 while ports use it or, for non-admins, when it is the default.
    pub async fn security_group_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        let (group, _) = self.visible_group(ctx, id).await?;
        authorize(ctx, "delete_security_group", &Target::project(&group.project_id))?;
        if group.is_default() && !ctx.is_admin() {
            return Err(Error::conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        let c = retrying!(self.security_group_delete_once(id, if_match))?;
        self.mech.delete_security_group_postcommit(&c).await;
        Ok(())
    }

    async fn security_group_delete_once(
        &self,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<SecurityGroupContext, TxError> {
        let mut tx = self.db().begin().await?;
        let row = security_group_get(&mut *tx, id)
            .await?
            .ok_or_else(|| Error::not_found("SecurityGroup", id))?;
        check_if_match(if_match, row.revision_number)?;
        if !ports_of_group(&mut *tx, id).await?.is_empty() {
            return Err(Error::conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            )
            .into());
        }
        let group: SecurityGroup = from_row(&row)?;
        let rules: Vec<SecurityGroupRule> =
            rules_of_group(&mut *tx, id).await?.iter().map(from_row).collect::<Result<_, _>>()?;
        let c =
            SecurityGroupContext { current: group, rules, revision_number: row.revision_number };
        self.mech.delete_security_group_precommit(&mut tx, &c).await?;
        security_group_delete(&mut tx, id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(c)
    }

    /// Creates rules (bulk: all must target the same group).
    pub async fn security_group_rule_create(
        &self,
        ctx: &OpContext,
        bodies: &[Value],
    ) -> Result<Vec<Map<String, Value>>, Error> {
        let mut rules = Vec::new();
        for body in bodies {
            let attrs =
                check_body("security_group_rule", RULE_ATTRS, body, Op::Create, ctx.caller())?;
            let group_id = get_str(&attrs, "security_group_id").unwrap_or_default();
            let (group, _) = self.visible_group(ctx, &group_id).await?;
            authorize(ctx, "create_security_group_rule", &Target::project(&group.project_id))?;
            let now = time::now();
            let mut rule = SecurityGroupRule {
                id: uuid::Uuid::new_v4().to_string(),
                security_group_id: group_id.clone(),
                direction: get_str(&attrs, "direction").unwrap_or_default(),
                ethertype: get_str(&attrs, "ethertype").unwrap_or_else(|| "IPv4".into()),
                protocol: get_str(&attrs, "protocol"),
                port_range_min: attrs.get("port_range_min").and_then(Value::as_i64),
                port_range_max: attrs.get("port_range_max").and_then(Value::as_i64),
                remote_ip_prefix: get_str(&attrs, "remote_ip_prefix"),
                remote_group_id: get_str(&attrs, "remote_group_id"),
                remote_address_group_id: get_str(&attrs, "remote_address_group_id"),
                description: get_str(&attrs, "description").unwrap_or_default(),
                project_id: group.project_id.clone(),
                created_at: now.clone(),
                updated_at: now,
            };
            normalize_rule(&mut rule)?;
            if let Some(remote) = &rule.remote_group_id {
                self.visible_group(ctx, remote).await?;
            }
            if let Some(ag) = &rule.remote_address_group_id {
                return Err(Error::not_found("AddressGroup", ag));
            }
            if let Some(first) =
                rules.first().map(|r: &(SecurityGroupRule, bool)| r.0.security_group_id.clone())
            {
                if first != rule.security_group_id {
                    return Err(Error::bad_request(
                        "Only rules of one security group can be created in bulk",
                    ));
                }
            }
            if rules.iter().any(|(r, _): &(SecurityGroupRule, bool)| r.key() == rule.key()) {
                return Err(Error::conflict(
                    "SecurityGroupRuleExists",
                    "Duplicate security group rule in POST.",
                ));
            }
            rules.push((rule, group.is_default()));
        }
        let mut views = Vec::new();
        for (rule, is_default) in rules {
            let group_id = rule.security_group_id.clone();
            let c = retrying!(self.security_group_change_once(
                &group_id,
                None,
                &Map::new(),
                Some(RuleChange::Add(&rule))
            ))?;
            self.mech.update_security_group_postcommit(&c).await;
            views.push(render_rule(&rule, 0, is_default, ctx));
        }
        Ok(views)
    }

    async fn visible_rule(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<(SecurityGroupRule, bool), Error> {
        let not_found = || Error::not_found("SecurityGroupRule", id);
        let row = rule_get(self.db().reader(), id)
            .await
            .map_err(crate::store_error)?
            .ok_or_else(not_found)?;
        let rule: SecurityGroupRule = from_row(&row).map_err(crate::store_error)?;
        let (group, _) =
            self.visible_group(ctx, &rule.security_group_id).await.map_err(|_| not_found())?;
        Ok((rule, group.is_default()))
    }

    /// Rules visible to `ctx`.
    pub async fn security_group_rule_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut ViewSink<'_>,
    ) -> Result<(), Error> {
        let scope = if ctx.is_privileged() { Scope::All } else { Scope::Project(&ctx.project_id) };
        let groups: Vec<SecurityGroup> = security_group_list(self.db().reader(), scope)
            .await
            .map_err(crate::store_error)?
            .iter()
            .map(from_row)
            .collect::<Result<_, _>>()
            .map_err(crate::store_error)?;
        let rows = rule_list(self.db().reader()).await.map_err(crate::store_error)?;
        let mut lister = crate::Lister::new(query, sink);
        for row in &rows {
            let rule: SecurityGroupRule = from_row(row).map_err(crate::store_error)?;
            let Some(group) = groups.iter().find(|g| g.id == rule.security_group_id) else {
                continue;
            };
            lister.offer(render_rule(&rule, row.revision_number, group.is_default(), ctx));
        }
        lister.finish("SecurityGroupRule")
    }

    /// One rule.
    pub async fn security_group_rule_show(
        &self,
        ctx: &OpContext,
        id: &str,
    ) -> Result<Map<String, Value>, Error> {
        let (rule, is_default) = self.visible_rule(ctx, id).await?;
        Ok(render_rule(&rule, 0, is_default, ctx))
    }

    /// Rules cannot be changed, only replaced.
    pub async fn security_group_rule_update(
        &self,
        _ctx: &OpContext,
        _id: &str,
        _body: &Value,
        _if_match: Option<i64>,
    ) -> Result<Map<String, Value>, Error> {
        Err(Error::new(
            ErrorKind::MethodNotAllowed,
            "HTTPMethodNotAllowed",
            "Security group rules cannot be updated.",
        ))
    }

    /// Deletes a rule.
    pub async fn security_group_rule_delete(
        &self,
        ctx: &OpContext,
        id: &str,
        _if_match: Option<i64>,
    ) -> Result<(), Error> {
        let (rule, _) = self.visible_rule(ctx, id).await?;
        authorize(ctx, "delete_security_group_rule", &Target::project(&rule.project_id))?;
        let c = retrying!(self.security_group_change_once(
            &rule.security_group_id,
            None,
            &Map::new(),
            Some(RuleChange::Remove(id))
        ))?;
        self.mech.update_security_group_postcommit(&c).await;
        Ok(())
    }

    /// Checks the groups a port asks for: they exist and belong to the port's project
    /// (admins may use any). Returns them de-duplicated.
    pub(crate) async fn port_groups_check(
        &self,
        ctx: &OpContext,
        project_id: &str,
        groups: &[String],
    ) -> Result<Vec<String>, Error> {
        let mut out: Vec<String> = Vec::new();
        let mut statefulness = Vec::new();
        for g in groups {
            let row =
                security_group_get(self.db().reader(), g).await.map_err(crate::store_error)?;
            let group: Option<SecurityGroup> =
                row.as_ref().map(from_row).transpose().map_err(crate::store_error)?;
            match group {
                Some(group) if group.project_id == project_id || ctx.is_admin() => {
                    statefulness.push(group.stateful);
                    if !out.contains(g) {
                        out.push(g.clone());
                    }
                }
                _ => return Err(Error::not_found("SecurityGroup", g)),
            }
        }
        if statefulness.windows(2).any(|w| w[0] != w[1]) {
            return Err(Error::conflict(
                "MixedStatefulSecurityGroups",
                "Cannot apply both stateful and stateless security groups on the same port at the same time.",
            ));
        }
        Ok(out)
    }
}

/// A rule added to or removed from a group.
enum RuleChange<'a> {
    Add(&'a SecurityGroupRule),
    Remove(&'a str),
}

async fn insert_rule(tx: &mut Tx, rule: &SecurityGroupRule) -> Result<(), StoreError> {
    let row = ResourceRow {
        id: rule.id.clone(),
        project_id: rule.project_id.clone(),
        revision_number: 0,
        body: Value::Object(to_map(rule)),
    };
    rule_insert(tx, &row, &rule.security_group_id, &rule.key()).await
}

fn render_rule(
    rule: &SecurityGroupRule,
    revision: i64,
    in_default: bool,
    ctx: &OpContext,
) -> Map<String, Value> {
    let mut view = to_map(rule);
    view.insert("normalized_cidr".into(), json!(rule.normalized_cidr()));
    view.insert("belongs_to_default_sg".into(), json!(in_default));
    view.insert("revision_number".into(), json!(revision));
    view.insert("tenant_id".into(), json!(rule.project_id));
    strip_unreadable(RULE_ATTRS, &mut view, ctx.is_privileged());
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(protocol: Option<&str>, min: Option<i64>, max: Option<i64>) -> SecurityGroupRule {
        SecurityGroupRule {
            id: "r".into(),
            security_group_id: "g".into(),
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            protocol: protocol.map(String::from),
            port_range_min: min,
            port_range_max: max,
            remote_ip_prefix: None,
            remote_group_id: None,
            remote_address_group_id: None,
            description: String::new(),
            project_id: "p".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn rules_are_checked_and_normalised_as_upstream() {
        let ty = |r: &mut SecurityGroupRule| normalize_rule(r).err().map(|e| e.r#type.to_string());
        assert_eq!(ty(&mut rule(Some("tcp"), Some(22), Some(22))), None);
        assert_eq!(
            ty(&mut rule(Some("tcp"), Some(80), Some(22))).as_deref(),
            Some("SecurityGroupInvalidPortRange")
        );
        assert_eq!(
            ty(&mut rule(Some("tcp"), Some(0), Some(22))).as_deref(),
            Some("SecurityGroupInvalidPortValue")
        );
        assert_eq!(
            ty(&mut rule(None, Some(22), Some(22))).as_deref(),
            Some("SecurityGroupProtocolRequiredWithPorts")
        );
        assert_eq!(
            ty(&mut rule(Some("gre"), Some(1), Some(2))).as_deref(),
            Some("SecurityGroupInvalidProtocolForPortRange")
        );
        assert_eq!(
            ty(&mut rule(Some("icmp"), None, Some(0))).as_deref(),
            Some("SecurityGroupMissingIcmpType")
        );
        assert_eq!(
            ty(&mut rule(Some("icmp"), Some(300), None)).as_deref(),
            Some("SecurityGroupInvalidIcmpValue")
        );
        assert_eq!(
            ty(&mut rule(Some("ipv6-icmp"), None, None)).as_deref(),
            Some("SecurityGroupRuleInvalidProtocol")
        );
        let mut full = rule(Some("tcp"), Some(1), Some(65535));
        normalize_rule(&mut full).unwrap();
        assert_eq!((full.port_range_min, full.port_range_max), (None, None));
        let mut v6 = rule(Some("icmp"), Some(128), None);
        v6.ethertype = "IPv6".into();
        normalize_rule(&mut v6).unwrap();
        assert_eq!(v6.protocol.as_deref(), Some("ipv6-icmp"));
        let mut prefix = rule(None, None, None);
        prefix.remote_ip_prefix = Some("2001:db8::/64".into());
        assert_eq!(ty(&mut prefix).as_deref(), Some("SecurityGroupRuleParameterConflict"));
        let mut both = rule(None, None, None);
        both.remote_ip_prefix = Some("10.0.0.0/8".into());
        both.remote_group_id = Some("g2".into());
        assert_eq!(ty(&mut both).as_deref(), Some("SecurityGroupRemoteGroupAndRemoteIpPrefix"));
    }
}
