//! DescribeAddonVersions and CreateAddon share one catalog: the version marked default for a
//! cluster version is the one CreateAddon installs when none is asked for, a stale pin is refused
//! for a newer cluster, and the filters and paging work as the SDK sends them.

use std::collections::BTreeSet;

use crate::support::*;

async fn versions_for(eks: &aws_sdk_eks::Client, addon: &str, k8s: &str) -> Vec<(String, bool)> {
    let out = eks
        .describe_addon_versions()
        .addon_name(addon)
        .kubernetes_version(k8s)
        .send()
        .await
        .unwrap();
    assert_eq!(out.addons().len(), 1);
    let info = &out.addons()[0];
    assert_eq!(info.addon_name(), Some(addon));
    assert_eq!(info.publisher(), Some("eks"));
    info.addon_versions()
        .iter()
        .map(|v| {
            let compat = v.compatibilities();
            assert_eq!(
                compat.len(),
                1,
                "compatibilities limited to the asked version"
            );
            assert_eq!(compat[0].cluster_version(), Some(k8s));
            assert_eq!(compat[0].platform_versions(), ["*"]);
            (
                v.addon_version().unwrap().to_string(),
                compat[0].default_version(),
            )
        })
        .collect()
}

/// CreateAddon: the installed version, or the error code.
async fn install(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    addon: &str,
    version: Option<&str>,
) -> Result<String, String> {
    let out = eks
        .create_addon()
        .cluster_name(cluster)
        .addon_name(addon)
        .set_addon_version(version.map(str::to_string))
        .send()
        .await
        .map_err(|e| code(&e))?;
    Ok(out.addon.unwrap().addon_version.unwrap())
}

#[tokio::test]
async fn the_default_version_listed_is_the_one_installed_and_stale_pins_are_refused() {
    let (server, _) = start(1000.0).await;
    let eks = eks_client(&server.url());
    active_cluster(&eks, "old", "1.32").await;
    active_cluster(&eks, "new", "1.33").await;

    let on_133 = versions_for(&eks, "vpc-cni", "1.33").await;
    let defaults: Vec<_> = on_133
        .iter()
        .filter(|(_, d)| *d)
        .map(|(v, _)| v.clone())
        .collect();
    assert_eq!(defaults.len(), 1, "{on_133:?}");
    assert!(
        !on_133.iter().any(|(v, _)| v == "v1.18.6-eksbuild.1"),
        "the stale build is not offered for 1.33: {on_133:?}"
    );
    assert_eq!(
        install(&eks, "new", "vpc-cni", None).await,
        Ok(defaults[0].clone())
    );

    let stale = install(&eks, "new", "coredns", Some("v1.11.3-eksbuild.2")).await;
    assert_eq!(
        stale,
        Err("InvalidParameterException".into()),
        "a build that stops at 1.31"
    );
    let unknown = install(&eks, "new", "coredns", Some("v0.0.1-eksbuild.1")).await;
    assert_eq!(
        unknown,
        Err("InvalidParameterException".into()),
        "a version the catalog does not have"
    );

    // The pin in plans/quarterly-upgrade.yaml stays valid on its 1.32 cluster.
    assert!(
        versions_for(&eks, "vpc-cni", "1.32")
            .await
            .iter()
            .any(|(v, _)| v == "v1.19.0-eksbuild.1")
    );
    let pinned = install(&eks, "old", "vpc-cni", Some("v1.19.0-eksbuild.1")).await;
    assert_eq!(pinned, Ok("v1.19.0-eksbuild.1".into()));
    let kube_proxy = versions_for(&eks, "kube-proxy", "1.33").await;
    assert_eq!(
        kube_proxy,
        [("v1.33.0-eksbuild.1".to_string(), true)],
        "kube-proxy follows the cluster"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn addon_versions_filter_by_type_and_owner_and_page() {
    let (server, _) = start(1000.0).await;
    let eks = eks_client(&server.url());

    let all = eks.describe_addon_versions().send().await.unwrap();
    let names: BTreeSet<&str> = all
        .addons()
        .iter()
        .map(|a| a.addon_name().unwrap())
        .collect();
    for known in [
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "aws-ebs-csi-driver",
        "eks-pod-identity-agent",
    ] {
        assert!(names.contains(known), "{known} in {names:?}");
    }
    let ebs = all
        .addons()
        .iter()
        .find(|a| a.addon_name() == Some("aws-ebs-csi-driver"))
        .unwrap();
    let compat_versions: BTreeSet<&str> = ebs.addon_versions()[0]
        .compatibilities()
        .iter()
        .map(|c| c.cluster_version().unwrap())
        .collect();
    assert!(
        compat_versions.contains("1.35"),
        "every cluster version when none is asked: {compat_versions:?}"
    );

    let storage = eks
        .describe_addon_versions()
        .types("storage")
        .send()
        .await
        .unwrap();
    assert!(!storage.addons().is_empty());
    assert!(
        storage
            .addons()
            .iter()
            .all(|a| a.r#type() == Some("storage"))
    );
    let community = eks
        .describe_addon_versions()
        .owners("community")
        .send()
        .await
        .unwrap();
    let community: Vec<_> = community
        .addons()
        .iter()
        .map(|a| a.addon_name().unwrap())
        .collect();
    assert_eq!(community, ["metrics-server"]);
    let unknown = eks
        .describe_addon_versions()
        .addon_name("no-such-addon")
        .send()
        .await
        .unwrap();
    assert!(unknown.addons().is_empty());

    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let page = eks
            .describe_addon_versions()
            .max_results(5)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.addons().len() <= 5);
        paged.extend(
            page.addons()
                .iter()
                .map(|a| a.addon_name().unwrap().to_string()),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(
        paged.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        names
    );
    assert_eq!(paged.len(), names.len(), "no add-on twice across pages");
    server.shutdown().await;
}
