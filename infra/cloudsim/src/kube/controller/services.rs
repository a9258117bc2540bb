//! The cloud load-balancer controller: a LoadBalancer Service gets a finalizer at once, a reachable
//! load balancer (see [`crate::lb`]) and `status.loadBalancer.ingress` after `lb_provision_secs`;
//! when the Service is deleted (or stops being a LoadBalancer) the load balancer is released after
//! `lb_release_secs` and the finalizer removed. Listeners are re-opened on the recorded address
//! after a restart.

use crate::profile::LatencyKind;
use serde_json::{Value, json};

use super::{Next, deadline, gr, put_if_changed};
use crate::kube::store::{StoreError, Tx};
use crate::kube::{ClusterState, LoadBalancerInfo, obj};

pub const LB_FINALIZER: &str = "service.kubernetes.io/load-balancer-cleanup";
const PROVISION_AT: &str = "cloudsim.dev/lb-ready-at";
const RELEASE_AT: &str = "cloudsim.dev/lb-release-at";

fn ports(svc: &Value) -> Vec<u16> {
    svc["spec"]["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p["port"].as_u64().and_then(|p| u16::try_from(p).ok()))
                .collect()
        })
        .unwrap_or_default()
}

fn hostname(cs: &ClusterState, svc: &Value) -> String {
    let mut base: String = format!("{}-{}", obj::namespace(svc), obj::name(svc))
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    base.truncate(32);
    format!(
        "k8s-{base}-{}.elb.{}.cloudsim.test",
        obj::random_suffix(10),
        cs.env.region
    )
}

pub fn load_balancers(
    cs: &ClusterState,
    tx: &mut Tx,
    now: i64,
    next: &mut Next,
) -> Result<(), StoreError> {
    let svc_gr = gr("", "services");
    let services = tx.list(&svc_gr, None);
    for svc in &services {
        let ns = obj::namespace(svc).to_string();
        let name = obj::name(svc).to_string();
        let wants_lb = svc["spec"]["type"] == "LoadBalancer" && !obj::is_deleting(svc);
        let has_finalizer = obj::finalizers(svc).iter().any(|f| f == LB_FINALIZER);
        let mut new = (**svc).clone();
        if wants_lb {
            obj::add_finalizer(&mut new, LB_FINALIZER);
            obj::remove_annotation(&mut new, RELEASE_AT);
            let ingress = svc["status"]["loadBalancer"]["ingress"][0].clone();
            match (ingress["ip"].as_str(), ingress["hostname"].as_str()) {
                (Some(ip), Some(host)) => {
                    let info = LoadBalancerInfo {
                        namespace: ns.clone(),
                        service: name.clone(),
                        hostname: host.to_string(),
                        ip: ip.to_string(),
                        ports: ports(svc),
                    };
                    cs.lbs.ensure(cs, info, Some(ip));
                }
                _ => match deadline(svc, PROVISION_AT) {
                    None => {
                        let at = now
                            + cs.scaled_draw(LatencyKind::LbProvision, &format!("{ns}/{name}"))
                                .as_millis() as i64;
                        obj::set_annotation(&mut new, PROVISION_AT, &at.to_string());
                        next.at(at);
                    }
                    Some(at) if at > now => next.at(at),
                    Some(_) => {
                        let info = LoadBalancerInfo {
                            namespace: ns.clone(),
                            service: name.clone(),
                            hostname: hostname(cs, svc),
                            ip: String::new(),
                            ports: ports(svc),
                        };
                        match cs.lbs.ensure(cs, info, None) {
                            Some(info) => {
                                new["status"]["loadBalancer"] = json!({"ingress": [{"hostname": info.hostname, "ip": info.ip, "ipMode": "VIP"}]});
                                obj::remove_annotation(&mut new, PROVISION_AT);
                                cs.env.events.record("lb-provisioned", Some(&cs.name), json!({"namespace": ns, "service": name, "hostname": info.hostname, "ip": info.ip}));
                            }
                            // Could not bind (retried next pass).
                            None => next.at(now + 100),
                        }
                    }
                },
            }
        } else if has_finalizer {
            match deadline(svc, RELEASE_AT) {
                None => {
                    let at = now
                        + cs.scaled_draw(LatencyKind::LbRelease, &format!("{ns}/{name}"))
                            .as_millis() as i64;
                    obj::set_annotation(&mut new, RELEASE_AT, &at.to_string());
                    next.at(at);
                }
                Some(at) if at > now => next.at(at),
                Some(_) => {
                    cs.lbs.release(&ns, &name);
                    cs.env.events.record(
                        "lb-released",
                        Some(&cs.name),
                        json!({"namespace": ns, "service": name}),
                    );
                    obj::remove_annotation(&mut new, RELEASE_AT);
                    obj::remove_annotation(&mut new, PROVISION_AT);
                    obj::remove_finalizer(&mut new, LB_FINALIZER);
                    new["status"]["loadBalancer"] = json!({});
                    if obj::is_deleting(&new) && obj::finalizers(&new).is_empty() {
                        tx.remove(&svc_gr, &ns, &name);
                        continue;
                    }
                }
            }
        } else if svc["spec"]["type"] != "LoadBalancer" && deadline(svc, PROVISION_AT).is_some() {
            obj::remove_annotation(&mut new, PROVISION_AT);
        }
        put_if_changed(tx, &svc_gr, svc, new);
    }
    // Load balancers whose Service vanished without the finalizer running (e.g. forced removal).
    cs.lbs.retain(|ns, name| {
        services
            .iter()
            .any(|s| obj::namespace(s) == ns && obj::name(s) == name)
    });
    Ok(())
}
