//! Clusters as the tests see them: the live blue a team already runs (EKS cluster, node group,
//! ingress with its load balancer), whether a cluster still exists, and Helm releases on one.

use std::path::Path;

use super::Stack;

impl Stack {
    /// Whether EKS (cloudsim) still knows the cluster `name`.
    pub async fn cluster_exists(&self, name: &str) -> bool {
        match self.eks().await.describe_cluster().name(name).send().await {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => panic!("describe cluster {name}: {e:?}"),
        }
    }

    /// Every Helm release on a cluster as `(name, revision, status)`, sorted by name.
    pub fn releases(&self, kubeconfig: &Path) -> Vec<(String, String, String)> {
        let out = self.helm(kubeconfig, &["list", "-A", "-o", "json"]);
        assert!(
            out.status.success(),
            "helm list: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let field = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
        let mut releases: Vec<(String, String, String)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (field(r, "name"), field(r, "revision"), field(r, "status")))
            .collect();
        releases.sort();
        releases
    }

    /// The statuses of a release's revisions as helm stores them (the `status` labels of its
    /// Secrets, space-separated), e.g. `pending-install` while helm is mid-install.
    pub fn release_statuses(&self, kubeconfig: &Path, namespace: &str, release: &str) -> String {
        let out = self.kubectl(
            kubeconfig,
            &[
                "get",
                "secrets",
                "-n",
                namespace,
                "-l",
                &format!("owner=helm,name={release}"),
                "-o",
                "jsonpath={.items[*].metadata.labels.status}",
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Builds the live blue cluster the way a team would have: EKS cluster + node group, the
    /// ingress chart installed with helm, and its load balancer's hostname returned.
    pub async fn create_blue(&self, name: &str, version: &str) -> String {
        let eks = self.eks().await;
        eks.create_cluster()
            .name(name)
            .version(version)
            .role_arn("arn:aws:iam::111122223333:role/eks-cluster")
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("subnet-a")
                    .subnet_ids("subnet-b")
                    .build(),
            )
            .send()
            .await
            .expect("create blue");
        self.wait_for(&format!("blue cluster {name} ACTIVE"), || async {
            let c = eks.describe_cluster().name(name).send().await.ok()?;
            (c.cluster()?.status()? == &aws_sdk_eks::types::ClusterStatus::Active).then_some(())
        })
        .await;
        eks.create_nodegroup()
            .cluster_name(name)
            .nodegroup_name("general")
            .node_role("arn:aws:iam::111122223333:role/eks-node")
            .subnets("subnet-a")
            .instance_types("m6i.large")
            .scaling_config(
                aws_sdk_eks::types::NodegroupScalingConfig::builder()
                    .min_size(2)
                    .desired_size(2)
                    .max_size(3)
                    .build(),
            )
            .send()
            .await
            .expect("create blue node group");
        self.wait_for("blue node group ACTIVE", || async {
            let n = eks
                .describe_nodegroup()
                .cluster_name(name)
                .nodegroup_name("general")
                .send()
                .await
                .ok()?;
            (n.nodegroup()?.status()? == &aws_sdk_eks::types::NodegroupStatus::Active).then_some(())
        })
        .await;
        let kubeconfig = self.kubeconfig(name);
        let out = self.helm(
            &kubeconfig,
            &[
                "install",
                "ingress",
                "ingress",
                "--repo",
                self.charts.url(),
                "--version",
                "4.11.3",
                "-n",
                "ingress",
                "--create-namespace",
                "--wait",
                "--timeout",
                "2m",
            ],
        );
        assert!(
            out.status.success(),
            "helm install on blue: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_for("blue load balancer address", || async {
            let out = self.kubectl(
                &kubeconfig,
                &[
                    "get",
                    "service",
                    "-n",
                    "ingress",
                    "ingress-nginx-controller",
                    "-o",
                    "json",
                ],
            );
            let svc: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            svc["status"]["loadBalancer"]["ingress"][0]["hostname"]
                .as_str()
                .map(str::to_string)
        })
        .await
    }
}
