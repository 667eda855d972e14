//! Type drivers: which segments a network type allows, how segmentation ids are reserved and
//! allocated, and the MTU a segment of that type carries.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use nt_store::segments::{segment_allocate, segments_taken};
use nt_store::{StoreError, Tx};
use nt_types::Error;

use crate::config::Ml2Config;
use crate::TxError;

/// A network segment: type, physical network, segmentation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// flat, vlan, geneve, vxlan.
    pub network_type: String,
    /// Physical network (flat, vlan).
    pub physical_network: Option<String>,
    /// VLAN id or VNI.
    pub segmentation_id: Option<i64>,
}

/// One network type.
#[async_trait]
pub trait TypeDriver: Send + Sync + Debug {
    /// The `provider:network_type` value it serves.
    fn network_type(&self) -> &'static str;
    /// Checks a segment an admin asked for.
    fn validate_provider_segment(&self, segment: &Segment) -> Result<(), Error>;
    /// Reserves a validated provider segment; taken → 409.
    async fn reserve_provider_segment(
        &self,
        tx: &mut Tx,
        segment: &Segment,
        network_id: &str,
    ) -> Result<Segment, TxError>;
    /// Allocates a segment for a project network; `None` when none is free.
    async fn allocate_tenant_segment(
        &self,
        tx: &mut Tx,
        network_id: &str,
    ) -> Result<Option<Segment>, TxError>;
    /// Largest MTU a network of this type can have.
    fn mtu(&self, physical_network: Option<&str>) -> i64;
}

fn parse_ranges(entries: &[String], what: &str) -> Result<Vec<(i64, i64)>, String> {
    entries
        .iter()
        .map(|e| {
            let (a, b) =
                e.split_once(':').ok_or_else(|| format!("bad {what} range '{e}': want min:max"))?;
            let lo: i64 = a.trim().parse().map_err(|_| format!("bad {what} range '{e}'"))?;
            let hi: i64 = b.trim().parse().map_err(|_| format!("bad {what} range '{e}'"))?;
            if lo > hi || lo < 1 {
                return Err(format!("bad {what} range '{e}'"));
            }
            Ok((lo, hi))
        })
        .collect()
}

/// Lowest id in `ranges` not in `taken` (sorted ascending).
fn lowest_free(ranges: &[(i64, i64)], taken: &[i64]) -> Option<i64> {
    for &(lo, hi) in ranges {
        let mut candidate = lo;
        for &t in taken.iter().filter(|&&t| t >= lo && t <= hi) {
            if t == candidate {
                candidate += 1;
            } else if t > candidate {
                break;
            }
        }
        if candidate <= hi {
            return Some(candidate);
        }
    }
    None
}

fn physnet_mtu(config: &Ml2Config, physnet: Option<&str>) -> i64 {
    physnet
        .and_then(|p| config.physical_network_mtus.get(p).copied())
        .unwrap_or(config.global_physnet_mtu)
}

/// Flat networks: one per physical network, no segmentation id.
#[derive(Debug)]
struct FlatDriver {
    config: Ml2Config,
}

#[async_trait]
impl TypeDriver for FlatDriver {
    fn network_type(&self) -> &'static str {
        "flat"
    }

    fn validate_provider_segment(&self, segment: &Segment) -> Result<(), Error> {
        let Some(physnet) = &segment.physical_network else {
            return Err(Error::invalid_input(
                "physical_network required for flat provider network",
            ));
        };
        if segment.segmentation_id.is_some() {
            return Err(Error::invalid_input(
                "segmentation_id specified for flat provider network",
            ));
        }
        let allowed = &self.config.flat_networks;
        if !allowed.iter().any(|p| p == "*" || p == physnet) {
            return Err(Error::invalid_input(format!(
                "physical_network '{physnet}' unknown for flat provider network"
            )));
        }
        Ok(())
    }

    async fn reserve_provider_segment(
        &self,
        tx: &mut Tx,
        segment: &Segment,
        network_id: &str,
    ) -> Result<Segment, TxError> {
        let physnet = segment.physical_network.as_deref().unwrap_or_default();
        match segment_allocate(tx, "flat", physnet, 0, network_id).await {
            Err(StoreError::UniqueViolation { .. }) => Err(TxError::Domain(Error::conflict(
                "FlatNetworkInUse",
                format!("Unable to create the flat network. Physical network {physnet} is in use."),
            ))),
            other => other.map(|()| segment.clone()).map_err(TxError::from),
        }
    }

    async fn allocate_tenant_segment(
        &self,
        _tx: &mut Tx,
        _network_id: &str,
    ) -> Result<Option<Segment>, TxError> {
        Ok(None)
    }

    fn mtu(&self, physical_network: Option<&str>) -> i64 {
        physnet_mtu(&self.config, physical_network)
    }
}

/// VLAN networks on configured physical networks.
#[derive(Debug)]
struct VlanDriver {
    config: Ml2Config,
    /// Physical network → VLAN ranges for project networks (empty: provider use only).
    ranges: BTreeMap<String, Vec<(i64, i64)>>,
}

#[async_trait]
impl TypeDriver for VlanDriver {
    fn network_type(&self) -> &'static str {
        "vlan"
    }

    fn validate_provider_segment(&self, segment: &Segment) -> Result<(), Error> {
        let Some(physnet) = &segment.physical_network else {
            return Err(Error::invalid_input(
                "physical_network required for VLAN provider network",
            ));
        };
        if !self.ranges.contains_key(physnet) {
            return Err(Error::invalid_input(format!(
                "physical_network '{physnet}' unknown for VLAN provider network"
            )));
        }
        if let Some(id) = segment.segmentation_id {
            if !(1..=4094).contains(&id) {
                return Err(Error::invalid_input(format!(
                    "segmentation_id out of range ({id} is not between 1 and 4094)"
                )));
            }
        }
        Ok(())
    }

    async fn reserve_provider_segment(
        &self,
        tx: &mut Tx,
        segment: &Segment,
        network_id: &str,
    ) -> Result<Segment, TxError> {
        let physnet = segment.physical_network.clone().unwrap_or_default();
        let id = match segment.segmentation_id {
            Some(id) => id,
            None => {
                let taken = segments_taken(tx, "vlan", &physnet).await?;
                let ranges = self.ranges.get(&physnet).cloned().unwrap_or_default();
                let ranges = if ranges.is_empty() { vec![(1, 4094)] } else { ranges };
                lowest_free(&ranges, &taken).ok_or_else(|| {
                    TxError::Domain(Error::unavailable(
                        "NoNetworkAvailable",
                        "Unable to create the network. No tenant network is available for allocation.",
                    ))
                })?
            }
        };
        match segment_allocate(tx, "vlan", &physnet, id, network_id).await {
            Err(StoreError::UniqueViolation { .. }) if segment.segmentation_id.is_some() => {
                return Err(TxError::Domain(Error::conflict(
                    "VlanIdInUse",
                    format!("Unable to create the network. The VLAN {id} on physical network {physnet} is in use."),
                )));
            }
            other => other.map_err(TxError::from)?,
        }
        Ok(Segment {
            network_type: "vlan".into(),
            physical_network: Some(physnet),
            segmentation_id: Some(id),
        })
    }

    async fn allocate_tenant_segment(
        &self,
        tx: &mut Tx,
        network_id: &str,
    ) -> Result<Option<Segment>, TxError> {
        for (physnet, ranges) in &self.ranges {
            if ranges.is_empty() {
                continue;
            }
            let taken = segments_taken(tx, "vlan", physnet).await?;
            if let Some(id) = lowest_free(ranges, &taken) {
                segment_allocate(tx, "vlan", physnet, id, network_id).await?;
                return Ok(Some(Segment {
                    network_type: "vlan".into(),
                    physical_network: Some(physnet.clone()),
                    segmentation_id: Some(id),
                }));
            }
        }
        Ok(None)
    }

    fn mtu(&self, physical_network: Option<&str>) -> i64 {
        physnet_mtu(&self.config, physical_network)
    }
}

/// Overlay networks (geneve, vxlan) identified by a VNI.
#[derive(Debug)]
struct TunnelDriver {
    network_type: &'static str,
    ranges: Vec<(i64, i64)>,
    max_id: i64,
    /// Encapsulation header bytes on top of the underlay IP header.
    overhead: i64,
    config: Ml2Config,
}

#[async_trait]
impl TypeDriver for TunnelDriver {
    fn network_type(&self) -> &'static str {
        self.network_type
    }

    fn validate_provider_segment(&self, segment: &Segment) -> Result<(), Error> {
        if segment.physical_network.is_some() {
            return Err(Error::invalid_input(format!(
                "provider:physical_network specified for {} network",
                self.network_type
            )));
        }
        if let Some(id) = segment.segmentation_id {
            if !(1..=self.max_id).contains(&id) {
                return Err(Error::invalid_input(format!(
                    "segmentation_id out of range ({id} is not between 1 and {})",
                    self.max_id
                )));
            }
        }
        Ok(())
    }

    async fn reserve_provider_segment(
        &self,
        tx: &mut Tx,
        segment: &Segment,
        network_id: &str,
    ) -> Result<Segment, TxError> {
        let Some(id) = segment.segmentation_id else {
            return self.allocate_tenant_segment(tx, network_id).await?.ok_or_else(|| {
                TxError::Domain(Error::unavailable(
                    "NoNetworkAvailable",
                    "Unable to create the network. No tenant network is available for allocation.",
                ))
            });
        };
        match segment_allocate(tx, self.network_type, "", id, network_id).await {
            Err(StoreError::UniqueViolation { .. }) => Err(TxError::Domain(Error::conflict(
                "TunnelIdInUse",
                format!("Unable to create the network. The tunnel ID {id} is in use."),
            ))),
            other => other.map(|()| segment.clone()).map_err(TxError::from),
        }
    }

    async fn allocate_tenant_segment(
        &self,
        tx: &mut Tx,
        network_id: &str,
    ) -> Result<Option<Segment>, TxError> {
        let taken = segments_taken(tx, self.network_type, "").await?;
        let Some(id) = lowest_free(&self.ranges, &taken) else { return Ok(None) };
        segment_allocate(tx, self.network_type, "", id, network_id).await?;
        Ok(Some(Segment {
            network_type: self.network_type.into(),
            physical_network: None,
            segmentation_id: Some(id),
        }))
    }

    fn mtu(&self, _physical_network: Option<&str>) -> i64 {
        let underlay = match self.config.path_mtu {
            p if p > 0 => p.min(self.config.global_physnet_mtu),
            _ => self.config.global_physnet_mtu,
        };
        let ip_header = if self.config.overlay_ip_version == 6 { 40 } else { 20 };
        underlay - ip_header - self.overhead
    }
}

/// The enabled type drivers and the tenant network types.
#[derive(Debug, Clone)]
pub struct TypeManager {
    drivers: Vec<Arc<dyn TypeDriver>>,
    tenant_types: Vec<String>,
}

impl TypeManager {
    /// Builds the drivers named in `config.type_drivers`.
    pub fn new(config: &Ml2Config) -> Result<TypeManager, String> {
        let mut drivers: Vec<Arc<dyn TypeDriver>> = Vec::new();
        for name in &config.type_drivers {
            let driver: Arc<dyn TypeDriver> = match name.as_str() {
                "flat" => Arc::new(FlatDriver { config: config.clone() }),
                "vlan" => {
                    let mut ranges: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
                    for entry in &config.network_vlan_ranges {
                        let mut parts = entry.splitn(2, ':');
                        let physnet = parts.next().unwrap_or_default().trim().to_string();
                        let list = ranges.entry(physnet).or_default();
                        if let Some(rest) = parts.next() {
                            list.extend(parse_ranges(&[rest.to_string()], "VLAN")?);
                        }
                    }
                    Arc::new(VlanDriver { config: config.clone(), ranges })
                }
                "geneve" => Arc::new(TunnelDriver {
                    network_type: "geneve",
                    ranges: parse_ranges(&config.geneve_vni_ranges, "geneve VNI")?,
                    max_id: (1 << 24) - 1,
                    overhead: config.geneve_max_header_size,
                    config: config.clone(),
                }),
                "vxlan" => Arc::new(TunnelDriver {
                    network_type: "vxlan",
                    ranges: parse_ranges(&config.vxlan_vni_ranges, "VXLAN VNI")?,
                    max_id: (1 << 24) - 1,
                    overhead: 30,
                    config: config.clone(),
                }),
                other => return Err(format!("unknown type driver '{other}'")),
            };
            drivers.push(driver);
        }
        for t in &config.tenant_network_types {
            if !config.type_drivers.contains(t) {
                return Err(format!("tenant network type '{t}' has no enabled type driver"));
            }
        }
        Ok(TypeManager { drivers, tenant_types: config.tenant_network_types.clone() })
    }

    /// The driver of `network_type`.
    pub fn driver(&self, network_type: &str) -> Option<&Arc<dyn TypeDriver>> {
        self.drivers.iter().find(|d| d.network_type() == network_type)
    }

    /// Validates and reserves a provider segment.
    pub async fn reserve_provider_segment(
        &self,
        tx: &mut Tx,
        segment: &Segment,
        network_id: &str,
    ) -> Result<Segment, TxError> {
        let driver = self.driver(&segment.network_type).ok_or_else(|| {
            TxError::Domain(Error::invalid_input(format!(
                "Unknown provider:network_type {}",
                segment.network_type
            )))
        })?;
        driver.validate_provider_segment(segment)?;
        driver.reserve_provider_segment(tx, segment, network_id).await
    }

    /// Allocates a segment of the first tenant type with room; 503 when none has.
    pub async fn allocate_tenant_segment(
        &self,
        tx: &mut Tx,
        network_id: &str,
    ) -> Result<Segment, TxError> {
        for t in &self.tenant_types {
            if let Some(driver) = self.driver(t) {
                if let Some(segment) = driver.allocate_tenant_segment(tx, network_id).await? {
                    return Ok(segment);
                }
            }
        }
        Err(TxError::Domain(Error::unavailable(
            "NoNetworkAvailable",
            "Unable to create the network. No tenant network is available for allocation.",
        )))
    }

    /// Largest MTU of a segment.
    pub fn mtu(&self, segment: &Segment) -> i64 {
        self.driver(&segment.network_type)
            .map(|d| d.mtu(segment.physical_network.as_deref()))
            .unwrap_or(1500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_skips_taken_ids_across_ranges() {
        assert_eq!(lowest_free(&[(1, 3)], &[]), Some(1));
        assert_eq!(lowest_free(&[(1, 3)], &[1, 2]), Some(3));
        assert_eq!(lowest_free(&[(1, 2), (10, 11)], &[1, 2, 10]), Some(11));
        assert_eq!(lowest_free(&[(1, 2)], &[1, 2]), None);
        assert_eq!(lowest_free(&[(5, 6)], &[1, 2, 6]), Some(5));
    }

    #[test]
    fn mtu_subtracts_overlay_overhead() {
        let config = Ml2Config {
            network_vlan_ranges: vec!["physnet1:100:200".into()],
            ..Ml2Config::default()
        };
        let types = TypeManager::new(&config).unwrap();
        let seg = |t: &str, p: Option<&str>| Segment {
            network_type: t.into(),
            physical_network: p.map(String::from),
            segmentation_id: None,
        };
        assert_eq!(types.mtu(&seg("geneve", None)), 1442);
        assert_eq!(types.mtu(&seg("vxlan", None)), 1450);
        assert_eq!(types.mtu(&seg("vlan", Some("physnet1"))), 1500);
        assert_eq!(types.mtu(&seg("flat", Some("public"))), 1500);
    }

    #[test]
    fn provider_segments_are_validated_per_type() {
        let config =
            Ml2Config { network_vlan_ranges: vec!["physnet1".into()], ..Ml2Config::default() };
        let types = TypeManager::new(&config).unwrap();
        let check = |t: &str, p: Option<&str>, id: Option<i64>| {
            types.driver(t).unwrap().validate_provider_segment(&Segment {
                network_type: t.into(),
                physical_network: p.map(String::from),
                segmentation_id: id,
            })
        };
        assert!(check("flat", Some("public"), None).is_ok());
        assert!(check("flat", None, None).is_err());
        assert!(check("flat", Some("public"), Some(3)).is_err());
        assert!(check("vlan", Some("physnet1"), Some(100)).is_ok());
        assert!(check("vlan", Some("physnet2"), Some(100)).is_err());
        assert!(check("vlan", Some("physnet1"), Some(4095)).is_err());
        assert!(check("geneve", Some("physnet1"), None).is_err());
        assert!(check("geneve", None, Some(1 << 24)).is_err());
        assert!(TypeManager::new(&Ml2Config {
            tenant_network_types: vec!["gre".into()],
            ..Ml2Config::default()
        })
        .is_err());
    }
}
