//! The `logger` mechanism driver: logs every call and keeps a journal of them, so tests can
//! see which hooks ran, in which order, with which resource.

use std::sync::Mutex;

use async_trait::async_trait;
use nt_store::Tx;
use nt_types::Error;

use super::{MechanismDriver, NetworkContext, PortContext, SecurityGroupContext, SubnetContext};
use crate::TxError;

/// Logs each hook call and records `"<hook> <resource id>"` lines.
#[derive(Debug, Default)]
pub struct LoggerDriver {
    journal: Mutex<Vec<String>>,
}

impl LoggerDriver {
    /// The calls seen so far, oldest first.
    pub fn journal(&self) -> Vec<String> {
        self.journal.lock().expect("journal lock").clone()
    }

    fn record(&self, hook: &str, id: &str, revision: i64) {
        tracing::info!(hook, id, revision, "logger mechanism driver");
        self.journal.lock().expect("journal lock").push(format!("{hook} {id}"));
    }
}

macro_rules! logged {
    ($($pre:ident, $post:ident, $ctx:ty;)*) => {
        #[async_trait]
        impl MechanismDriver for LoggerDriver {
            fn name(&self) -> &str {
                "logger"
            }
            $(
                async fn $pre(&self, _tx: &mut Tx, ctx: &$ctx) -> Result<(), TxError> {
                    self.record(stringify!($pre), &ctx.current.id, ctx.revision_number);
                    Ok(())
                }
                async fn $post(&self, ctx: &$ctx) -> Result<(), Error> {
                    self.record(stringify!($post), &ctx.current.id, ctx.revision_number);
                    Ok(())
                }
            )*
        }
    };
}

logged! {
    create_network_precommit, create_network_postcommit, NetworkContext;
    update_network_precommit, update_network_postcommit, NetworkContext;
    delete_network_precommit, delete_network_postcommit, NetworkContext;
    create_subnet_precommit, create_subnet_postcommit, SubnetContext;
    update_subnet_precommit, update_subnet_postcommit, SubnetContext;
    delete_subnet_precommit, delete_subnet_postcommit, SubnetContext;
    create_port_precommit, create_port_postcommit, PortContext;
    update_port_precommit, update_port_postcommit, PortContext;
    delete_port_precommit, delete_port_postcommit, PortContext;
    create_security_group_precommit, create_security_group_postcommit, SecurityGroupContext;
    update_security_group_precommit, update_security_group_postcommit, SecurityGroupContext;
    delete_security_group_precommit, delete_security_group_postcommit, SecurityGroupContext;
}
