//! EC2 subnets against moto: the inventory reads zone, CIDR, VPC and free addresses (moto fills
//! `AvailableIpAddressCount` as AWS does: 251 for a /24, 11 for a /28), a missing subnet is a
//! `NotFound` naming it, and the pre-flight's capacity rule reads a plan's subnets through it.

use crate::aws_common;
use crate::support::plans;

use cutover::providers::aws::calls::api_calls;
use cutover::providers::aws::ec2_subnets::Ec2Network;
use cutover::providers::network::Severity;
use cutover::providers::{ErrorKind, SubnetInventory, subnet_capacity, subnet_ids};
use testkit::moto::Moto;

struct Vpc {
    _moto: Moto,
    sdk: aws_sdk_ec2::Client,
    network: Ec2Network,
    vpc: String,
}

impl Vpc {
    async fn start() -> Vpc {
        let moto = Moto::start();
        let config = aws_common::sdk_config(&moto.endpoint()).await;
        let sdk = aws_sdk_ec2::Client::new(&config);
        let vpc = sdk.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap();
        let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
        Vpc { _moto: moto, sdk, network: Ec2Network::new(&config), vpc }
    }

    async fn subnet(&self, cidr: &str, zone: &str) -> String {
        let out =
            self.sdk.create_subnet().vpc_id(&self.vpc).cidr_block(cidr).availability_zone(zone).send().await.unwrap();
        out.subnet().unwrap().subnet_id().unwrap().to_string()
    }
}

fn describe_calls() -> u64 {
    api_calls().iter().filter(|(op, _)| op.ends_with(".DescribeSubnets")).map(|(_, n)| n).sum()
}

#[tokio::test]
async fn subnets_come_back_in_the_order_asked_with_zone_cidr_vpc_and_free_addresses() {
    let vpc = Vpc::start().await;
    let a = vpc.subnet("10.0.1.0/24", "us-east-1a").await;
    let b = vpc.subnet("10.0.2.0/28", "us-east-1b").await;
    let _unasked = vpc.subnet("10.0.3.0/24", "us-east-1c").await;

    let calls = describe_calls();
    let got = vpc.network.subnets(&[b.clone(), a.clone(), b.clone()]).await.unwrap();
    assert!(describe_calls() > calls, "DescribeSubnets is counted for the run report: {:?}", api_calls());

    assert_eq!(got.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [b.as_str(), a.as_str()]);
    let (sb, sa) = (&got[0], &got[1]);
    assert_eq!((sa.availability_zone.as_str(), sa.cidr.as_str(), sa.available_ips), ("us-east-1a", "10.0.1.0/24", 251));
    assert_eq!((sb.availability_zone.as_str(), sb.cidr.as_str(), sb.available_ips), ("us-east-1b", "10.0.2.0/28", 11));
    assert!(got.iter().all(|s| s.vpc_id == vpc.vpc), "{got:?}");

    // No ids asks nothing (DescribeSubnets without ids would list the whole account).
    assert_eq!(vpc.network.subnets(&[]).await.unwrap(), []);
}

#[tokio::test]
async fn subnets_that_do_not_exist_are_not_found_by_name() {
    let vpc = Vpc::start().await;
    let a = vpc.subnet("10.0.1.0/24", "us-east-1a").await;
    let (gone, also_gone) = ("subnet-0123456789abcdef0".to_string(), "subnet-0fedcba9876543210".to_string());

    let err = vpc.network.subnets(&[a.clone(), gone.clone()]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    assert!(!err.retryable());
    assert!(err.message.starts_with(&format!("subnet {gone} not found in us-east-1")), "{}", err.message);
    assert!(err.message.contains("green.subnets"), "{}", err.message);
    assert!(!err.message.contains(&a), "{a} exists: {}", err.message);

    let err = vpc.network.subnets(&[also_gone.clone(), a.clone(), gone.clone()]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    assert!(err.message.starts_with(&format!("subnets {also_gone}, {gone} not found")), "{}", err.message);
}

#[tokio::test]
async fn the_capacity_rule_reads_a_plans_subnets_through_the_inventory() {
    let vpc = Vpc::start().await;
    let a = vpc.subnet("10.0.1.0/24", "us-east-1a").await;
    let b = vpc.subnet("10.0.2.0/24", "us-east-1b").await;
    let small = vpc.subnet("10.0.9.0/28", "us-east-1a").await;

    let mut green = plans::upgrade().build().green;
    green.subnets = vec![a.clone(), b.clone()];
    let found = vpc.network.subnets(&subnet_ids(&green)).await.unwrap();
    assert_eq!(subnet_capacity(&green, &found), [], "two /24s in two zones hold 6 nodes");

    // A node group of up to 4 nodes on a /28 (11 free): its primary interfaces alone take 40.
    let mut batch = green.nodegroups[0].clone();
    batch.name = "batch".into();
    batch.scaling.max = 4;
    batch.subnets = vec![small.clone()];
    green.nodegroups.push(batch);
    let found = vpc.network.subnets(&subnet_ids(&green)).await.unwrap();
    let findings = subnet_capacity(&green, &found);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!((findings[0].code, findings[0].severity), ("PRE-NET-006", Severity::Refuse));
    assert_eq!(findings[0].subnets, [small]);
    assert!(findings[0].problem.contains("at least 40 addresses"), "{}", findings[0]);
    assert!(findings[0].problem.contains("11 free"), "{}", findings[0]);
}
