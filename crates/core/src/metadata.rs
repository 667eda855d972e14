//! The per-network metadata port the OVN metadata agent serves instances from: device owner
//! `network:distributed`, device id `ovnmeta-<network id>`, one address on every
//! DHCP-enabled IPv4 subnet of the network. Kept in step after network and subnet changes;
//! idempotent, so running it again repairs a missed step.

use serde_json::{json, Value};

use nt_store::ports::ports_of_network;
use nt_store::subnets::subnets_of_network;
use nt_types::port::Port;
use nt_types::subnet::Subnet;
use nt_types::Error;

use crate::{from_row, store_error, Core, OpContext};

/// Device owner of metadata ports.
pub const METADATA_OWNER: &str = "network:distributed";

impl Core {
    /// Runs [`Core::metadata_port_sync`] after a change; a failure is logged and left to
    /// maintenance, the change itself already committed.
    pub(crate) async fn metadata_port_after(&self, network_id: &str) {
        if let Err(e) = self.metadata_port_sync(network_id).await {
            tracing::warn!(network_id, error = %e, "metadata port not in step");
        }
    }

    /// Creates or updates the metadata port of `network_id` (no-op unless enabled).
    pub async fn metadata_port_sync(&self, network_id: &str) -> Result<(), Error> {
        if !self.config().metadata_port {
            return Ok(());
        }
        let reader = self.db().reader();
        let Some(net_row) =
            nt_store::networks::network_get(reader, network_id).await.map_err(store_error)?
        else {
            return Ok(());
        };
        let subnets: Vec<Subnet> = subnets_of_network(reader, network_id)
            .await
            .map_err(store_error)?
            .iter()
            .map(from_row)
            .collect::<Result<_, _>>()
            .map_err(store_error)?;
        let wanted: Vec<&Subnet> =
            subnets.iter().filter(|s| s.ip_version == 4 && s.enable_dhcp).collect();
        let device_id = format!("ovnmeta-{network_id}");
        let existing = ports_of_network(reader, network_id)
            .await
            .map_err(store_error)?
            .iter()
            .map(from_row::<Port>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(store_error)?
            .into_iter()
            .find(|p| p.device_owner == METADATA_OWNER && p.device_id == device_id);
        let ctx = OpContext::admin(&net_row.project_id);
        match existing {
            None => {
                let fixed: Vec<Value> = wanted.iter().map(|s| json!({"subnet_id": s.id})).collect();
                let body = json!({"network_id": network_id, "project_id": net_row.project_id,
                    "device_owner": METADATA_OWNER, "device_id": device_id, "fixed_ips": fixed});
                self.port_create(&ctx, &[body]).await?;
            }
            Some(port) => {
                let have: Vec<&str> = port.fixed_ips.iter().map(|f| f.subnet_id.as_str()).collect();
                let want: Vec<&str> = wanted.iter().map(|s| s.id.as_str()).collect();
                if have.iter().all(|h| want.contains(h)) && want.iter().all(|w| have.contains(w)) {
                    return Ok(());
                }
                let fixed: Vec<Value> = want
                    .iter()
                    .map(|sid| match port.fixed_ips.iter().find(|f| f.subnet_id == *sid) {
                        Some(f) => json!({"subnet_id": sid, "ip_address": f.ip_address}),
                        None => json!({"subnet_id": sid}),
                    })
                    .collect();
                self.port_update(&ctx, &port.id, &json!({ "fixed_ips": fixed }), None).await?;
            }
        }
        Ok(())
    }
}
