//! The ML2 plugin layer: type drivers own segments (flat, vlan, geneve, vxlan) and
//! mechanism drivers follow every network, subnet and port change — `*_precommit` inside the
//! database transaction, `*_postcommit` after it commits.

pub mod logger;
mod mech;
mod types;

pub use mech::{
    MechanismDriver, MechanismManager, NetworkContext, PortBinding, PortContext,
    SecurityGroupContext, SubnetContext,
};
pub use types::{Segment, TypeDriver, TypeManager};
