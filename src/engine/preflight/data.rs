//! The `data` gate: which claims travel and where each lands, decided before anything is made.
//!
//! An upgrade reads each selected claim on blue: it must be bound to an EBS volume (CSI or
//! in-tree), and green must have a node group in the volume's zone (or `moveZones` lets it move
//! to one green has). A drill restores claims by name from the newest completed snapshot cutover
//! took of them (tagged with the environment and the claim), and the claim's shape comes from
//! the snapshot's tags. The result ([`DataReading`]) is the gate's journaled output; the data steps
//! act only on it, so a resumed run acts on exactly the claims the gate saw.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::gates::{Finding, Severity};
use crate::plan::{Plan, PlanKind};
use crate::providers::volumes::{ClaimInfo, EbsSnapshot, SnapshotState, TAG_CLAIM, VolumeSource};
use crate::providers::{ProviderError, Providers, TAG_PLAN};

/// Tag on a snapshot holding the claim's shape, so a drill can recreate the claim without blue:
/// `class=gp3,size=10Gi,modes=ReadWriteOnce,fs=ext4,source=csi,type=gp3`.
pub const TAG_CLAIM_SPEC: &str = "cutover.dev/claim-spec";

/// The EKS add-on of the EBS CSI driver.
pub const EBS_CSI_ADDON: &str = "aws-ebs-csi-driver";

/// One claim that travels, with where it comes from and where it lands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedClaim {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Blue's labels on the claim.
    pub labels: BTreeMap<String, String>,
    /// Storage class on green (after `storageClassMap`).
    pub storage_class: Option<String>,
    /// Access modes.
    pub access_modes: Vec<String>,
    /// Requested size (`10Gi`).
    pub size: String,
    /// CSI or in-tree, as blue's volume was.
    pub csi: bool,
    /// File system.
    pub fs_type: Option<String>,
    /// EBS volume type to make (blue's).
    pub volume_type: String,
    /// Size in GiB of blue's volume (green's is the same).
    pub size_gib: u32,
    /// Blue's PersistentVolume (upgrade) — kept `Retain` for the run.
    pub blue_volume: Option<String>,
    /// Blue's EBS volume (upgrade).
    pub blue_volume_id: Option<String>,
    /// Blue's volume's reclaim policy before the run.
    pub blue_reclaim: Option<String>,
    /// The snapshot a drill restores, and when it was taken.
    pub snapshot: Option<(String, jiff::Timestamp)>,
    /// The zone green's volume is made in.
    pub zone: String,
}

impl CarriedClaim {
    /// A claim as it is on a cluster, bound to `pv` on EBS volume `volume`, to land in `zone`
    /// (the blue side and the storage-class mapping are the caller's).
    pub fn of(c: &ClaimInfo, pv: &crate::providers::volumes::BoundVolume, volume: &crate::providers::volumes::EbsVolume, zone: String) -> CarriedClaim {
        CarriedClaim {
            namespace: c.namespace.clone(),
            name: c.name.clone(),
            labels: c.labels.clone(),
            storage_class: c.storage_class.clone(),
            access_modes: c.access_modes.clone(),
            size: c.size.clone(),
            csi: matches!(pv.source, VolumeSource::EbsCsi { .. }),
            fs_type: pv.fs_type.clone(),
            volume_type: volume.volume_type.clone(),
            size_gib: volume.size_gib,
            blue_volume: None,
            blue_volume_id: None,
            blue_reclaim: None,
            snapshot: None,
            zone,
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The shape written into [`TAG_CLAIM_SPEC`].
    pub fn spec_tag(&self) -> String {
        format!(
            "class={},size={},modes={},fs={},source={},type={}",
            self.storage_class.as_deref().unwrap_or(""),
            self.size,
            self.access_modes.join("+"),
            self.fs_type.as_deref().unwrap_or("ext4"),
            if self.csi { "csi" } else { "in-tree" },
            self.volume_type,
        )
    }
}

/// What the `data` gate decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataReading {
    /// Every claim that travels.
    pub claims: Vec<CarriedClaim>,
}

fn error(code: &str, what: String, at: String, fix: &str) -> Finding {
    Finding::new(code, Severity::Error, what, at, fix.to_string())
}

/// Green's zones: those of its node groups' subnets (the cluster's when a group names none).
async fn green_zones(plan: &Plan, p: &Providers) -> Result<BTreeSet<String>, ProviderError> {
    let mut ids: Vec<String> = Vec::new();
    for ng in &plan.green.nodegroups {
        let subnets = if ng.subnets.is_empty() { &plan.green.subnets } else { &ng.subnets };
        ids.extend(subnets.iter().cloned());
    }
    ids.sort();
    ids.dedup();
    Ok(p.network.subnets(&ids).await?.into_iter().map(|s| s.availability_zone).collect())
}

/// Runs the gate: findings, and the claims that travel when there is no error.
pub async fn gate(plan: &Plan, p: &Providers) -> Result<(Vec<Finding>, Option<DataReading>), ProviderError> {
    let Some(data) = plan.data.as_ref().filter(|d| d.carries()) else { return Ok((Vec::new(), None)) };
    let zones = green_zones(plan, p).await?;
    let mut findings = Vec::new();
    // On EKS (1.23 on) every EBS volume is the CSI driver's, static ones included: without the
    // add-on green's claims would never attach.
    if !plan.green.addons.iter().any(|a| a.name == EBS_CSI_ADDON) {
        findings.push(error(
            "PRE-DATA-009",
            format!("green has no {EBS_CSI_ADDON} add-on, so the volumes made for it could never attach"),
            format!("cluster {}", plan.green.name),
            "add `{name: aws-ebs-csi-driver}` to green.addons",
        ));
    }
    let mut claims = Vec::new();
    if zones.is_empty() {
        findings.push(error(
            "PRE-DATA-003",
            "green has no node group, so no volume can be attached on it".into(),
            format!("cluster {}", plan.green.name),
            "add a node group to green.nodegroups",
        ));
        return Ok((findings, None));
    }
    let mut next_zone = zones.iter().cycle();
    match (plan.kind, &plan.blue) {
        (PlanKind::Upgrade, Some(blue)) => {
            for (i, sel) in data.claims.iter().enumerate() {
                let found = p.claims.claims(&blue.cluster, sel).await?;
                if found.is_empty() {
                    findings.push(error(
                        "PRE-DATA-004",
                        format!("no claim on blue matches spec.data.claims[{i}]"),
                        format!("namespace {} on {}", sel.namespace, blue.cluster),
                        "check the claim's name or labels (kubectl get pvc -n NAMESPACE --show-labels)",
                    ));
                }
                for c in found {
                    match carried_from_blue(&c, data, &zones, &mut next_zone, &blue.cluster, p).await? {
                        Ok(carried) => claims.push(carried),
                        Err(f) => findings.push(f),
                    }
                }
            }
        }
        _ => {
            for (i, sel) in data.claims.iter().enumerate() {
                let Some(name) = &sel.name else {
                    findings.push(error(
                        "PRE-DATA-005",
                        format!("spec.data.claims[{i}] selects by labels, but a drill has no cluster to read labels on"),
                        format!("spec.data.claims[{i}]"),
                        "name each claim a drill restores (`name: data-ledger-0`)",
                    ));
                    continue;
                };
                let key = format!("{}/{name}", sel.namespace);
                let tags = BTreeMap::from([(TAG_PLAN.to_string(), data.from.clone()), (TAG_CLAIM.to_string(), key.clone())]);
                let newest = p.storage.snapshots_tagged(&tags).await?.into_iter().find(|s| s.state == SnapshotState::Completed);
                match newest.and_then(|s| restored(&s, &sel.namespace, name, zones.iter().next())) {
                    Some(c) => claims.push(c),
                    None => findings.push(error(
                        "PRE-DATA-006",
                        format!("no completed cutover snapshot of claim {key} from environment {}", data.from),
                        format!("EC2 snapshots tagged {TAG_PLAN}={} {TAG_CLAIM}={key}", data.from),
                        "take one with `cutover backup PLAN` (or an upgrade with spec.data) first",
                    )),
                }
            }
        }
    }
    quotas(p, &claims, &mut findings).await?;
    let reading = findings.iter().all(|f| f.severity != Severity::Error).then_some(DataReading { claims });
    Ok((findings, reading))
}

async fn carried_from_blue(
    c: &ClaimInfo,
    data: &crate::plan::DataSpec,
    zones: &BTreeSet<String>,
    next_zone: &mut impl Iterator<Item = &'_ String>,
    blue: &str,
    p: &Providers,
) -> Result<Result<CarriedClaim, Finding>, ProviderError> {
    let at = format!("claim {}/{} on {blue}", c.namespace, c.name);
    let Some(pv) = c.volume.as_ref().filter(|_| c.phase == "Bound") else {
        return Ok(Err(error("PRE-DATA-001", format!("the claim is {}, not bound to a volume", c.phase), at, "bind it (or leave it out of spec.data.claims)")));
    };
    let Some(volume_id) = pv.source.ebs_volume() else {
        let VolumeSource::Other { what } = &pv.source else { unreachable!("EBS sources have a volume id") };
        return Ok(Err(error(
            "PRE-DATA-001",
            format!("its volume {} is {what}, not EBS: cutover moves data by EBS snapshot", pv.name),
            at,
            "leave it out of spec.data.claims and move its data another way",
        )));
    };
    let Some(volume) = p.storage.volume(volume_id).await? else {
        return Ok(Err(error("PRE-DATA-001", format!("EBS volume {volume_id} of {} does not exist", pv.name), at, "check the PersistentVolume")));
    };
    let zone = if zones.contains(&volume.zone) {
        volume.zone.clone()
    } else if data.move_zones {
        next_zone.next().cloned().unwrap_or_default()
    } else {
        return Ok(Err(error(
            "PRE-DATA-002",
            format!("volume {volume_id} is in {}, where green has no node group (green's zones: {})", volume.zone, zones.iter().cloned().collect::<Vec<_>>().join(", ")),
            at,
            "add a subnet in that zone to a node group of green, or set spec.data.moveZones: true to recreate it in one of green's zones",
        )));
    };
    let mut carried = CarriedClaim::of(c, pv, &volume, zone);
    carried.storage_class = c.storage_class.as_deref().map(|s| data.green_class(s));
    carried.blue_volume = Some(pv.name.clone());
    carried.blue_volume_id = Some(volume_id.to_string());
    carried.blue_reclaim = Some(pv.reclaim_policy.clone());
    Ok(Ok(carried))
}

/// A claim rebuilt from a snapshot's tags.
fn restored(s: &EbsSnapshot, namespace: &str, name: &str, zone: Option<&String>) -> Option<CarriedClaim> {
    let spec: BTreeMap<&str, &str> = s.tags.get(TAG_CLAIM_SPEC)?.split(',').filter_map(|kv| kv.split_once('=')).collect();
    Some(CarriedClaim {
        namespace: namespace.into(),
        name: name.into(),
        labels: BTreeMap::new(),
        storage_class: spec.get("class").filter(|c| !c.is_empty()).map(|c| c.to_string()),
        access_modes: spec.get("modes").map(|m| m.split('+').map(str::to_string).collect()).unwrap_or_default(),
        size: spec.get("size")?.to_string(),
        csi: spec.get("source") == Some(&"csi"),
        fs_type: spec.get("fs").map(|f| f.to_string()),
        volume_type: spec.get("type").unwrap_or(&"gp3").to_string(),
        size_gib: s.size_gib,
        blue_volume: None,
        blue_volume_id: None,
        blue_reclaim: None,
        snapshot: Some((s.id.clone(), s.started)),
        zone: zone?.clone(),
    })
}

/// Green's new volumes must fit the region's EBS storage quota of each volume type, beside what
/// the region already uses (blue's volumes among it). A quota that cannot be read is a warning:
/// the gate cannot vouch for it, and it does not refuse what it could not check.
async fn quotas(p: &Providers, claims: &[CarriedClaim], findings: &mut Vec<Finding>) -> Result<(), ProviderError> {
    let mut wanted: BTreeMap<&str, u64> = BTreeMap::new();
    for c in claims {
        *wanted.entry(c.volume_type.as_str()).or_default() += u64::from(c.size_gib);
    }
    for (volume_type, gib) in wanted {
        let quota = match p.quotas.storage_quota_gib(volume_type).await {
            Ok(Some(q)) => q,
            Ok(None) => {
                findings.push(Finding::new(
                    "PRE-DATA-008",
                    Severity::Warning,
                    format!("the region's storage quota for {volume_type} volumes is not known to Service Quotas, so the {gib} GiB green needs were not checked against it"),
                    format!("Service Quotas, service ebs, {volume_type}"),
                    "check the EBS quota by hand (Service Quotas console) before a large move".into(),
                ));
                continue;
            }
            Err(e) => {
                findings.push(Finding::new(
                    "PRE-DATA-008",
                    Severity::Warning,
                    format!("the region's storage quota for {volume_type} volumes could not be read ({e}), so the {gib} GiB green needs were not checked against it"),
                    format!("Service Quotas, service ebs, {volume_type}"),
                    "allow servicequotas:ListServiceQuotas (infra/iam), or check the quota by hand".into(),
                ));
                continue;
            }
        };
        let used = p.storage.used_gib(volume_type).await?;
        if used + gib > quota {
            findings.push(error(
                "PRE-DATA-007",
                format!("green's {gib} GiB of {volume_type} volumes would bring the region to {} GiB, over its quota of {quota} GiB", used + gib),
                format!("EBS {volume_type} storage in the region"),
                "ask for a higher quota (Service Quotas, service ebs) or free volumes first",
            ));
        }
    }
    Ok(())
}
