//! [`KubeWorkloads`]: the [`WorkloadProvider`] over the Kubernetes API — releasing a cluster's
//! cloud load balancers before it is deleted, and reading a Service's load balancer address.
//!
//! Releasing mirrors what AWS needs: deleting a LoadBalancer Service or an Ingress only asks the
//! cloud controller (in-tree, or the AWS Load Balancer Controller) to delete the load balancer; the
//! object stays, held by the controller's finalizer, until the load balancer is gone. So "released"
//! means the objects have disappeared, not merely that the deletes were accepted.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::ResourceExt as _;
use kube::api::{Api, DeleteParams, ListParams};

use super::client::KubeClients;
use crate::providers::{ErrorKind, ProviderError, WorkloadProvider};

/// Finalizers cloud load-balancer controllers put on Services and Ingresses.
const LB_FINALIZERS: &[&str] = &[
    "service.kubernetes.io/load-balancer-cleanup",
    "service.k8s.aws/resources",
];

/// The first poll comes quickly (small clusters release in seconds), later ones back off.
const FIRST_POLL: Duration = Duration::from_millis(200);
const MAX_POLL: Duration = Duration::from_secs(5);

/// The workload provider on EKS clusters: nodes, workloads and Service load balancers through kube.
pub struct KubeWorkloads {
    clients: Arc<KubeClients>,
}

impl KubeWorkloads {
    /// A provider using the shared per-cluster clients.
    pub fn new(clients: Arc<KubeClients>) -> Self {
        KubeWorkloads { clients }
    }

    /// The per-cluster client cache this provider speaks through.
    pub(super) fn clients(&self) -> &KubeClients {
        &self.clients
    }
}

/// A Service that holds (or is releasing) a cloud load balancer.
fn holds_lb(svc: &Service) -> bool {
    let is_lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
    is_lb
        || svc
            .finalizers()
            .iter()
            .any(|f| LB_FINALIZERS.contains(&f.as_str()))
}

fn id(namespace: Option<String>, name: &str) -> String {
    format!("{}/{name}", namespace.unwrap_or_default())
}

#[async_trait]
impl WorkloadProvider for KubeWorkloads {
    /// Polls until nothing holds a load balancer: quickly at first, then backing off to
    /// [`MAX_POLL`]. It has no deadline of its own: the engine bounds the call with the plan's
    /// `timeouts.loadBalancerRelease` and drops it there, leaving the deletions in progress.
    async fn release_load_balancers(&self, cluster: &str) -> Result<(), ProviderError> {
        let mut pause = FIRST_POLL;
        let mut last_report = String::new();
        loop {
            let client = self.clients.client(cluster).await?;
            let services: Api<Service> = Api::all(client.clone());
            let ingresses: Api<Ingress> = Api::all(client);
            let svcs = services
                .list(&ListParams::default())
                .await
                .map_err(|e| self.clients.error(cluster, "list services", e))?;
            let ings = ingresses
                .list(&ListParams::default())
                .await
                .map_err(|e| self.clients.error(cluster, "list ingresses", e))?;
            let mut waiting = Vec::new();
            // Deleting again on every pass: something (a controller, a person) may recreate them.
            for svc in svcs.items.iter().filter(|s| holds_lb(s)) {
                let name = svc.name_any();
                waiting.push(format!("service {}", id(svc.namespace(), &name)));
                if svc.metadata.deletion_timestamp.is_none() {
                    let ns = svc.namespace().unwrap_or_default();
                    let api: Api<Service> =
                        Api::namespaced(self.clients.client(cluster).await?, &ns);
                    delete(&api, &name).await.map_err(|e| {
                        self.clients
                            .error(cluster, &format!("delete service {ns}/{name}"), e)
                    })?;
                    tracing::info!(cluster, service = %format!("{ns}/{name}"), "deleted LoadBalancer service");
                }
            }
            for ing in &ings.items {
                let name = ing.name_any();
                waiting.push(format!("ingress {}", id(ing.namespace(), &name)));
                if ing.metadata.deletion_timestamp.is_none() {
                    let ns = ing.namespace().unwrap_or_default();
                    let api: Api<Ingress> =
                        Api::namespaced(self.clients.client(cluster).await?, &ns);
                    delete(&api, &name).await.map_err(|e| {
                        self.clients
                            .error(cluster, &format!("delete ingress {ns}/{name}"), e)
                    })?;
                    tracing::info!(cluster, ingress = %format!("{ns}/{name}"), "deleted ingress");
                }
            }
            if waiting.is_empty() {
                tracing::info!(cluster, "no load balancers left");
                return Ok(());
            }
            let report = waiting.join(", ");
            if report != last_report {
                tracing::info!(cluster, waiting = %report, "waiting for load balancers to be released");
                last_report = report;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    async fn service_address(
        &self,
        cluster: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        let Some(lb) = load_balancer(&self.clients, cluster, namespace, name).await? else {
            return Ok(None);
        };
        Ok(lb.hostname.or(lb.ip))
    }
}

/// Deletes `name`, treating "already gone" as done.
pub(super) async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// A provisioned load balancer of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerAddress {
    /// DNS name of the load balancer (AWS load balancers have one).
    pub hostname: Option<String>,
    /// IP address of the load balancer, when it has one instead.
    pub ip: Option<String>,
}

/// The load balancer of Service `namespace/name`: `None` until the controller has provisioned one.
/// A missing Service, or one that is not of type LoadBalancer, is an error that names the plan
/// field to fix, since waiting would never help.
pub async fn load_balancer(
    clients: &KubeClients,
    cluster: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<LoadBalancerAddress>, ProviderError> {
    let api: Api<Service> = Api::namespaced(clients.client(cluster).await?, namespace);
    let svc = api
        .get_opt(name)
        .await
        .map_err(|e| clients.error(cluster, &format!("read service {namespace}/{name}"), e))?
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "service {namespace}/{name} does not exist on cluster {cluster}; check the \
                     service the plan's traffic record names (and that its release is installed)"
                ),
            )
        })?;
    let kind = svc
        .spec
        .as_ref()
        .and_then(|s| s.type_.clone())
        .unwrap_or_else(|| "ClusterIP".into());
    if kind != "LoadBalancer" {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "service {namespace}/{name} on cluster {cluster} is of type {kind}; traffic and \
                 probes need a Service of type LoadBalancer"
            ),
        ));
    }
    let ingress = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .unwrap_or_default();
    Ok(ingress
        .into_iter()
        .map(|i| LoadBalancerAddress {
            hostname: i.hostname.filter(|h| !h.is_empty()),
            ip: i.ip.filter(|ip| !ip.is_empty()),
        })
        .find(|a| a.hostname.is_some() || a.ip.is_some()))
}
