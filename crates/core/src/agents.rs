//! Agents: what the backends report as agents (OVN: chassis). Admin only, as upstream's
//! `get_agent` policy: others get an empty list and 404 on show.

use std::sync::Arc;

use serde_json::{Map, Value};

use nt_types::query::ListQuery;
use nt_types::{Error, ErrorKind};

use crate::{Core, OpContext, ViewSink};

/// A backend that reports agents.
pub trait AgentSource: Send + Sync + std::fmt::Debug {
    /// The agents as API objects.
    fn agents(&self) -> Vec<Map<String, Value>>;
}

impl Core {
    /// Adds a source of agents (the OVN driver registers itself at start).
    pub fn add_agent_source(&self, source: Arc<dyn AgentSource>) {
        self.agent_sources.write().expect("agent sources lock").push(source);
    }

    fn all_agents(&self) -> Vec<Map<String, Value>> {
        self.agent_sources
            .read()
            .expect("agent sources lock")
            .iter()
            .flat_map(|s| s.agents())
            .collect()
    }

    /// Agents matching `query`.
    pub async fn agent_list(
        &self,
        ctx: &OpContext,
        query: &ListQuery,
        sink: &mut ViewSink<'_>,
    ) -> Result<(), Error> {
        if !ctx.is_admin() {
            return Ok(());
        }
        let mut lister = crate::Lister::new(query, sink);
        for agent in self.all_agents() {
            lister.offer(agent);
        }
        lister.finish("Agent")
    }

    /// One agent.
    pub async fn agent_show(&self, ctx: &OpContext, id: &str) -> Result<Map<String, Value>, Error> {
        let not_found = || {
            Error::new(
                ErrorKind::NotFound,
                "AgentNotFound",
                format!("Agent {id} could not be found."),
            )
        };
        if !ctx.is_admin() {
            return Err(not_found());
        }
        self.all_agents()
            .into_iter()
            .find(|a| a.get("id").and_then(Value::as_str) == Some(id))
            .ok_or_else(not_found)
    }
}
