//! Compiling a plan into stages, steps and checkpoints.
//!
//! Step ids are derived from names in the plan (`provision.nodegroup.general`,
//! `releases.install.api`, `traffic.shift.50`), never from positions that an unrelated edit could
//! shift, so a resumed run matches its journal to the same steps.

use crate::plan::{Plan, PlanKind, PreflightGate};

use super::ids;
use super::step::{CheckpointDef, CompiledPlan, Stage, StepDef, StepKind};

/// Add-ons the nodes need before they can become Ready (networking, identity): created before
/// the node groups. Every other add-on (coredns, CSI drivers, ...) needs nodes to schedule on
/// and is created after them, so its ACTIVE wait can succeed.
const NODE_PREREQUISITE_ADDONS: &[&str] = &["vpc-cni", "kube-proxy", "eks-pod-identity-agent"];

/// Checkpoints a failure rolls back to automatically. `traffic-100` counts: green carries all
/// traffic after a full bake, so a failure while retiring blue keeps it there.
const SAFE_CHECKPOINTS: &[&str] = &[ids::GREEN_READY, ids::RELEASES_READY, ids::VERIFIED, "traffic-100"];

struct Builder {
    stages: Vec<Stage>,
    checkpoints: Vec<CheckpointDef>,
}

impl Builder {
    fn stage(&mut self, name: &str, title: &str, parallel: bool, steps: Vec<StepDef>) {
        self.stages.push(Stage {
            name: name.into(),
            title: title.into(),
            parallel,
            steps,
        });
    }

    /// A checkpoint after the last step compiled so far (so an empty stage still has one).
    fn checkpoint(&mut self, name: &str) {
        let Some(last) = self
            .stages
            .iter_mut()
            .rev()
            .find_map(|s| s.steps.last_mut())
        else {
            return;
        };
        last.checkpoints_after.push(name.to_string());
        self.checkpoints.push(CheckpointDef {
            name: name.to_string(),
            after_step: last.id.clone(),
            automatic_target: SAFE_CHECKPOINTS.contains(&name),
        });
    }
}

fn step(
    id: String,
    title: String,
    changes: &str,
    compensation: Option<&str>,
    kind: StepKind,
) -> StepDef {
    StepDef {
        id,
        title,
        changes: changes.to_string(),
        compensation: compensation.map(str::to_string),
        needs: Vec::new(),
        checkpoints_after: Vec::new(),
        point_of_no_return: false,
        kind,
    }
}

/// Steps of a sequential stage each wait for the previous one.
fn chain(mut steps: Vec<StepDef>) -> Vec<StepDef> {
    for i in 1..steps.len() {
        let prev = steps[i - 1].id.clone();
        steps[i].needs = vec![prev];
    }
    steps
}

/// Compiles a validated plan. Infallible: validation already rejected what cannot be compiled.
pub fn compile(plan: &Plan) -> CompiledPlan {
    let mut b = Builder {
        stages: Vec::new(),
        checkpoints: Vec::new(),
    };
    let green = &plan.green.name;

    let mut preflight = Vec::new();
    if !plan.releases.is_empty() {
        preflight.push(step(
            ids::PREFLIGHT_CHARTS.into(),
            "Verify every chart's digest".into(),
            "nothing",
            None,
            StepKind::VerifyCharts,
        ));
    }
    // A drill with a drill record checks, the same way, that the record's standby (its "blue",
    // a hostname) carries the name's traffic before the drill moves it.
    if plan.kind == PlanKind::Drill && plan.traffic.is_some() {
        preflight.push(step(
            ids::PREFLIGHT_BLUE.into(),
            "Check the drill record's standby target carries its traffic".into(),
            "nothing",
            None,
            StepKind::CheckBlue,
        ));
    }
    if plan.kind == PlanKind::Upgrade
        && let Some(blue) = &plan.blue
    {
        preflight.push(step(
            ids::PREFLIGHT_BLUE.into(),
            format!(
                "Check blue cluster {} and its records carry the traffic",
                blue.cluster
            ),
            "nothing",
            None,
            StepKind::CheckBlue,
        ));
    }
    for gate in PreflightGate::ALL.into_iter().filter(|g| super::preflight::gates::applies(*g, plan)) {
        let title = match gate {
            PreflightGate::Apis => format!("Check releases for Kubernetes APIs removed by {}", plan.green.version),
            PreflightGate::Insights => format!("Check EKS upgrade insights of blue for {}", plan.green.version),
            PreflightGate::Addons => format!("Check add-on versions against {}", plan.green.version),
            PreflightGate::Subnets => "Check green's subnets: zones and free addresses beside blue".to_string(),
            PreflightGate::Irsa => "Check the IRSA roles of releases and add-ons can trust green's OIDC issuer".to_string(),
            PreflightGate::Data => "Check the claims spec.data carries: EBS-backed, with a zone on green".to_string(),
        };
        let skipped = plan.preflight.skip.contains(&gate);
        preflight.push(step(
            ids::preflight(gate),
            if skipped { format!("{title} (skipped by the plan)") } else { title },
            "nothing",
            None,
            StepKind::Preflight(gate),
        ));
    }
    b.stage("preflight", "Preflight checks", false, chain(preflight));

    // Provisioning is a DAG, as EKS allows: once the cluster is ACTIVE, access entries and the
    // add-ons nodes need are created together; then every node group at once; then the add-ons
    // that need nodes. Creating them one by one would add minutes of waiting of our own.
    let cluster = step(
        ids::PROVISION_CLUSTER.into(),
        format!(
            "Create cluster {green} at Kubernetes {}",
            plan.green.version
        ),
        "creates the EKS cluster",
        Some("releases its load balancers and deletes the cluster"),
        StepKind::Cluster,
    );
    let after = |mut s: StepDef, needs: &[String]| {
        s.needs = needs.to_vec();
        s
    };
    let cluster_id = vec![cluster.id.clone()];
    let mut provision = vec![cluster];
    for (i, entry) in plan.green.access.iter().enumerate() {
        provision.push(after(
            step(
                ids::access(i),
                format!("Grant access to {}", entry.principal_arn),
                "creates an access entry and its policy associations",
                Some("deletes the access entry"),
                StepKind::Access(i),
            ),
            &cluster_id,
        ));
    }
    let identity = &plan.green.identity;
    for (i, pi) in identity.pod_identities.iter().enumerate() {
        provision.push(after(
            step(
                ids::pod_identity(&pi.namespace, &pi.service_account),
                format!("Associate {}/{} with role {}", pi.namespace, pi.service_account, pi.role_arn),
                "creates a Pod Identity association",
                Some("deletes the association"),
                StepKind::PodIdentity(i),
            ),
            &cluster_id,
        ));
    }
    if identity.oidc_provider {
        provision.push(after(
            step(
                ids::PROVISION_OIDC.into(),
                format!("Create the IAM OIDC provider for {green}'s issuer"),
                "creates an IAM OIDC provider",
                Some("deletes the OIDC provider if this run made it"),
                StepKind::OidcProvider,
            ),
            &cluster_id,
        ));
        if identity.irsa_update_trust {
            provision.push(after(
                step(
                    ids::PROVISION_IRSA_TRUST.into(),
                    "Let IRSA roles trust green's OIDC issuer beside blue's".into(),
                    "adds a statement for green's issuer to IRSA roles' trust policies",
                    Some("restores each trust policy exactly as it was read"),
                    StepKind::IrsaTrust,
                ),
                &[ids::PROVISION_OIDC.to_string()],
            ));
        }
    }
    let addon = |a: &crate::plan::Addon| {
        step(
            ids::addon(&a.name),
            format!("Install add-on {}", a.name),
            "creates an EKS add-on",
            Some("deletes the add-on"),
            StepKind::Addon(a.name.clone()),
        )
    };
    let early = |a: &&crate::plan::Addon| NODE_PREREQUISITE_ADDONS.contains(&a.name.as_str());
    let early_addons: Vec<StepDef> =
        plan.green.addons.iter().filter(early).map(|a| after(addon(a), &cluster_id)).collect();
    let mut before_nodes = cluster_id.clone();
    before_nodes.extend(early_addons.iter().map(|s| s.id.clone()));
    provision.extend(early_addons);
    let nodegroups: Vec<StepDef> = plan
        .green
        .nodegroups
        .iter()
        .map(|ng| {
            after(
                step(
                    ids::nodegroup(&ng.name),
                    format!("Create node group {}", ng.name),
                    "creates a managed node group",
                    Some("deletes the node group"),
                    StepKind::Nodegroup(ng.name.clone()),
                ),
                &before_nodes,
            )
        })
        .collect();
    let mut with_nodes = before_nodes.clone();
    with_nodes.extend(nodegroups.iter().map(|s| s.id.clone()));
    provision.extend(nodegroups);
    provision.extend(plan.green.addons.iter().filter(|a| !early(a)).map(|a| after(addon(a), &with_nodes)));
    b.stage(
        "provision",
        "Provision the green cluster",
        true,
        provision,
    );
    b.checkpoint(ids::GREEN_READY);

    let quiesced = plan.data.as_ref().is_some_and(|d| d.carries() && d.quiesce);
    if let Some(data) = plan.data.as_ref().filter(|d| d.carries()) {
        b.stage("data", "Carry persistent data to green", false, chain(data_steps(plan, data)));
    }

    let releases = plan
        .releases
        .iter()
        .map(|r| {
            let mut s = step(
                ids::release(&r.name),
                format!(
                    "Install release {}/{} ({} {})",
                    r.namespace,
                    r.name,
                    chart_name(r),
                    r.version
                ),
                "installs or upgrades a Helm release on green",
                Some("uninstalls the release"),
                StepKind::Release(r.name.clone()),
            );
            s.needs = r
                .needs
                .iter()
                .map(|n| ids::release(n))
                .collect();
            s
        })
        .collect();
    b.stage("releases", "Replay releases onto green", true, releases);
    b.checkpoint(ids::RELEASES_READY);

    let checks = plan
        .checks
        .iter()
        .map(|c| {
            step(
                ids::check(&c.name),
                format!("Check {}", c.name),
                "nothing",
                None,
                StepKind::Check(c.name.clone()),
            )
        })
        .collect();
    b.stage("verify", "Verify green", false, chain(checks));
    b.checkpoint(ids::VERIFIED);

    match plan.kind {
        PlanKind::Upgrade => compile_cutover(plan, &mut b),
        PlanKind::Drill => {
            // Test traffic through the drill record (never the production name: validation
            // requires a hostname standby), then back to the standby before the teardown.
            let mut teardown = Vec::new();
            if plan.traffic.is_some() {
                compile_traffic(plan, &mut b);
                teardown.push(step(
                    ids::TEARDOWN_TRAFFIC.into(),
                    "Point the drill record back at its standby and remove the rebuilt cluster's record".into(),
                    "restores the drill record's weights and deletes green's weighted record",
                    None,
                    StepKind::DrillTrafficRestore,
                ));
            }
            let mut s = step(
                ids::TEARDOWN_CLUSTER.into(),
                format!("Tear down the rebuilt cluster {green}"),
                "deletes the rebuilt cluster",
                None,
                StepKind::TeardownGreen,
            );
            s.point_of_no_return = true;
            teardown.push(s);
            b.stage("teardown", "Tear down the drill cluster", false, chain(teardown));
            b.checkpoint(ids::TORN_DOWN);
        }
        PlanKind::DevCluster => {}
    }
    // With blue's writers stopped, a failure before green serves must not stop at a checkpoint
    // that sends traffic back to a blue without writers: it goes back to green-ready, which
    // starts them again.
    if quiesced {
        for c in b.checkpoints.iter_mut().filter(|c| c.name == ids::RELEASES_READY || c.name == ids::VERIFIED) {
            c.automatic_target = false;
        }
    }

    CompiledPlan {
        plan: plan.metadata.name.clone(),
        kind: plan.kind,
        stages: b.stages,
        checkpoints: b.checkpoints,
    }
}

fn compile_cutover(plan: &Plan, b: &mut Builder) {
    if plan.traffic.is_none() {
        return;
    }
    compile_traffic(plan, b);
    compile_retire(plan, b);
}

/// Green's records at weight 0, then each shift with a checkpoint after it (upgrades and drills).
fn compile_traffic(plan: &Plan, b: &mut Builder) {
    let Some(traffic) = &plan.traffic else { return };
    let mut steps = vec![step(
        ids::TRAFFIC_PREPARE.into(),
        "Create green's weighted records at weight 0".into(),
        "creates green's weighted records (weight 0)",
        Some("deletes green's weighted records once blue carries all traffic"),
        StepKind::TrafficPrepare,
    )];
    for (index, ts) in traffic.steps.iter().enumerate() {
        steps.push(step(
            ids::shift(ts.weight),
            format!(
                "Shift {}% of traffic to green, bake {}",
                ts.weight,
                crate::plan::format_duration(ts.bake)
            ),
            "changes the weights of blue's and green's records in one batch",
            Some("restores the weights from before the shift (consecutive shifts in one batch)"),
            StepKind::TrafficShift {
                index,
                weight: ts.weight,
            },
        ));
    }
    let steps = chain(steps);
    // Checkpoints inside the stage: one per completed shift.
    b.stage("traffic", "Shift traffic to green", false, Vec::new());
    for s in steps {
        let weight = match s.kind {
            StepKind::TrafficShift { weight, .. } => Some(weight),
            _ => None,
        };
        b.stages.last_mut().expect("traffic stage").steps.push(s);
        if let Some(w) = weight {
            b.checkpoint(&ids::traffic_checkpoint(w));
        }
    }
}

fn compile_retire(plan: &Plan, b: &mut Builder) {
    let blue = plan
        .blue
        .as_ref()
        .map(|b| b.cluster.as_str())
        .unwrap_or("blue");
    let mut retire = chain(vec![
        step(
            ids::RETIRE_WAIT.into(),
            format!(
                "Keep blue for {} after green reached 100%",
                crate::plan::format_duration(plan.teardown.retain_blue_for)
            ),
            "nothing",
            None,
            StepKind::WaitRetention,
        ),
        step(
            ids::RETIRE_BLUE_RECORDS.into(),
            "Delete blue's weighted records (weight 0)".into(),
            "deletes blue's weighted records",
            Some("re-creates blue's weighted records at weight 0"),
            StepKind::BlueRecords,
        ),
        step(
            ids::RETIRE_BLUE_CLUSTER.into(),
            format!("Delete blue cluster {blue} (point of no return)"),
            "deletes the blue cluster",
            None,
            StepKind::BlueCluster,
        ),
    ]);
    retire[2].point_of_no_return = true;
    if plan.green.identity.irsa_update_trust {
        let mut s = step(
            ids::RETIRE_IRSA_TRUST.into(),
            "Remove blue's OIDC issuer from IRSA roles' trust policies".into(),
            "removes blue's statements from IRSA roles' trust policies",
            None,
            StepKind::IrsaRetire,
        );
        s.needs = vec![ids::RETIRE_BLUE_CLUSTER.to_string()];
        retire.push(s);
    }
    b.stage("retire", "Retire blue", false, retire);
    b.checkpoint(ids::BLUE_RETIRED);
}

fn chart_name(r: &crate::plan::Release) -> String {
    match &r.chart {
        crate::plan::ChartSource::Repo { name, .. } => name.clone(),
        crate::plan::ChartSource::Oci { reference } => reference
            .rsplit('/')
            .next()
            .unwrap_or(reference)
            .to_string(),
        crate::plan::ChartSource::Path { path } => path.display().to_string(),
    }
}

/// The data stage: in an upgrade blue's volumes are kept, its writers stopped (with `quiesce`)
/// and snapshotted; in a drill the gate already chose the snapshots. Then green's volumes and
/// claims, before any release asks for them.
fn data_steps(plan: &Plan, data: &crate::plan::DataSpec) -> Vec<StepDef> {
    let mut out = Vec::new();
    if plan.kind == PlanKind::Upgrade {
        out.push(step(
            ids::DATA_RETAIN.into(),
            "Keep blue's volumes whatever happens to their claims (Retain)".into(),
            "sets blue's PersistentVolumes to Retain",
            Some("puts their reclaim policies back"),
            StepKind::DataRetain,
        ));
        if data.quiesce {
            out.push(step(
                ids::DATA_WRITERS.into(),
                "Find blue's workloads that write the claims".into(),
                "nothing",
                None,
                StepKind::DataWriters,
            ));
            out.push(step(
                ids::DATA_QUIESCE.into(),
                "Stop blue's writers for an application-consistent snapshot".into(),
                "scales blue's writers to zero (downtime starts)",
                Some("scales them back to their replicas, on their own volumes"),
                StepKind::DataQuiesce,
            ));
        }
        out.push(step(
            ids::DATA_SNAPSHOT.into(),
            "Snapshot blue's volumes".into(),
            "creates EBS snapshots (kept for spec.data.retain)",
            None,
            StepKind::DataSnapshot,
        ));
    }
    out.push(step(
        ids::DATA_VOLUMES.into(),
        "Create green's volumes from the snapshots".into(),
        "creates EBS volumes",
        Some("deletes the volumes this run made"),
        StepKind::DataVolumes,
    ));
    out.push(step(
        ids::DATA_CLAIMS.into(),
        "Bind green's claims to their volumes".into(),
        "creates PersistentVolumes and claims on green",
        Some("deletes the claims and PersistentVolumes this run made"),
        StepKind::DataClaims,
    ));
    out
}
