//! Mechanism drivers and the manager that calls them in their configured order.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use nt_store::Tx;
use nt_types::network::Network;
use nt_types::port::Port;
use nt_types::security_group::{SecurityGroup, SecurityGroupRule};
use nt_types::subnet::Subnet;
use nt_types::Error;
use serde_json::Value;

use crate::TxError;

/// A network change as drivers see it.
#[derive(Debug, Clone)]
pub struct NetworkContext {
    /// The network after the change (before it, for deletes).
    pub current: Network,
    /// The network before an update.
    pub original: Option<Network>,
    /// Its revision after the change.
    pub revision_number: i64,
}

/// A subnet change as drivers see it.
#[derive(Debug, Clone)]
pub struct SubnetContext {
    /// The subnet after the change (before it, for deletes).
    pub current: Subnet,
    /// The subnet before an update.
    pub original: Option<Subnet>,
    /// Its network.
    pub network: Network,
    /// Its revision after the change.
    pub revision_number: i64,
}

/// A port change as drivers see it.
#[derive(Debug, Clone)]
pub struct PortContext {
    /// The port after the change (before it, for deletes).
    pub current: Port,
    /// The port before an update.
    pub original: Option<Port>,
    /// Its network.
    pub network: Network,
    /// Its revision after the change.
    pub revision_number: i64,
}

/// A security group change (its rules included) as drivers see it.
#[derive(Debug, Clone)]
pub struct SecurityGroupContext {
    /// The group after the change (before it, for deletes).
    pub current: SecurityGroup,
    /// Its rules after the change.
    pub rules: Vec<SecurityGroupRule>,
    /// Its revision after the change.
    pub revision_number: i64,
}

/// What a driver that binds a port reports: `binding:vif_type` and `binding:vif_details`.
#[derive(Debug, Clone, PartialEq)]
pub struct PortBinding {
    /// VIF type, e.g. `ovs`.
    pub vif_type: String,
    /// VIF details.
    pub vif_details: Value,
}

macro_rules! hooks {
    ($($pre:ident, $post:ident, $ctx:ty;)*) => {
        /// A mechanism driver. Every hook has a no-op default, so a driver implements only
        /// what it follows. Precommit hooks run inside the transaction and may refuse the
        /// change; postcommit hooks run after commit and must not undo it.
        #[async_trait]
        pub trait MechanismDriver: Send + Sync + Debug {
            /// Name in `[ml2] mechanism_drivers`.
            fn name(&self) -> &str;

            /// Binds a port to its host; `None` when this driver cannot bind it.
            fn bind_port(&self, _port: &Port, _network: &Network) -> Option<PortBinding> {
                None
            }

            $(
                #[doc = concat!("`", stringify!($pre), "`: inside the transaction.")]
                async fn $pre(&self, _tx: &mut Tx, _ctx: &$ctx) -> Result<(), TxError> {
                    Ok(())
                }
                #[doc = concat!("`", stringify!($post), "`: after commit.")]
                async fn $post(&self, _ctx: &$ctx) -> Result<(), Error> {
                    Ok(())
                }
            )*
        }

        impl MechanismManager {
            $(
                #[doc = concat!("Calls `", stringify!($pre), "` on every driver in order; the first error aborts.")]
                pub async fn $pre(&self, tx: &mut Tx, ctx: &$ctx) -> Result<(), TxError> {
                    for driver in &self.drivers {
                        driver.$pre(tx, ctx).await?;
                    }
                    Ok(())
                }
                #[doc = concat!("Calls `", stringify!($post), "` on every driver in order; failures are logged.")]
                pub async fn $post(&self, ctx: &$ctx) {
                    for driver in &self.drivers {
                        if let Err(e) = driver.$post(ctx).await {
                            tracing::error!(driver = driver.name(), error = %e, concat!(stringify!($post), " failed"));
                        }
                    }
                }
            )*
        }
    };
}

hooks! {
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

/// Calls the configured mechanism drivers in order.
#[derive(Debug, Clone, Default)]
pub struct MechanismManager {
    drivers: Vec<Arc<dyn MechanismDriver>>,
}

impl MechanismManager {
    /// A manager over `drivers`, called in this order.
    pub fn new(drivers: Vec<Arc<dyn MechanismDriver>>) -> Self {
        MechanismManager { drivers }
    }

    /// Names of the drivers, in order.
    pub fn names(&self) -> Vec<&str> {
        self.drivers.iter().map(|d| d.name()).collect()
    }

    /// The first driver's binding of the port, if any driver binds it.
    pub fn bind_port(&self, port: &Port, network: &Network) -> Option<PortBinding> {
        self.drivers.iter().find_map(|d| d.bind_port(port, network))
    }
}
