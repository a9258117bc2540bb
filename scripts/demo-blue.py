"""Pre-creates what a team already runs before its quarterly upgrade, for scripts/demo.sh:
the live (blue) EKS cluster with a node group, and the Route53 zone whose weighted record sends
all of api.example.com to blue's load balancer. Uses boto3 (from the moto virtualenv) against the
endpoints in the AWS_ENDPOINT_URL_* variables.

  demo-blue.py cluster NAME VERSION        create the cluster and node group, wait until ACTIVE
  demo-blue.py dns ZONE RECORD SETID TARGET create the zone and blue's weighted CNAME at 100
  demo-blue.py subnets                      the VPC and the three subnets the example plan names
                                            (moto seeded first, so their ids are the plan's)
"""

import os
import sys
import time

import boto3


def wait(what, probe, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.2)
    sys.exit(f"demo-blue: timed out waiting for {what}")


def cluster(name, version):
    eks = boto3.client("eks", endpoint_url=os.environ["AWS_ENDPOINT_URL_EKS"])
    eks.create_cluster(
        name=name,
        version=version,
        roleArn="arn:aws:iam::111122223333:role/eks-cluster",
        resourcesVpcConfig={"subnetIds": ["subnet-0a1b2c3d", "subnet-0e1f2a3b"]},
        tags={"team": "payments"},
    )
    wait(f"cluster {name}", lambda: eks.describe_cluster(name=name)["cluster"]["status"] == "ACTIVE")
    eks.create_nodegroup(
        clusterName=name,
        nodegroupName="general",
        nodeRole="arn:aws:iam::111122223333:role/eks-node",
        subnets=["subnet-0a1b2c3d"],
        instanceTypes=["m6i.large"],
        scalingConfig={"minSize": 3, "desiredSize": 3, "maxSize": 6},
    )
    wait(
        f"node group {name}/general",
        lambda: eks.describe_nodegroup(clusterName=name, nodegroupName="general")["nodegroup"]["status"] == "ACTIVE",
    )


def dns(zone, record, set_id, target):
    r53 = boto3.client("route53", endpoint_url=os.environ["AWS_ENDPOINT_URL_ROUTE_53"])
    zone_id = r53.create_hosted_zone(Name=zone, CallerReference=f"demo-{time.time()}")["HostedZone"]["Id"]
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": record,
                        "Type": "CNAME",
                        "SetIdentifier": set_id,
                        "Weight": 100,
                        "TTL": 5,
                        "ResourceRecords": [{"Value": target}],
                    },
                }
            ]
        },
    )
    print(zone_id.split("/")[-1])


def subnets():
    endpoint = os.environ["AWS_ENDPOINT_URL_EC2"]
    # moto draws ids from a seeded generator: the same calls in the same order give the ids
    # plans/quarterly-upgrade.yaml names. Nothing else may reach moto before this.
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/seed?a=20261205", method="POST"))
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    ids = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(["us-east-1a", "us-east-1b", "us-east-1c"])
    ]
    print(" ".join(ids))


if __name__ == "__main__":
    commands = {"cluster": (cluster, 2), "dns": (dns, 4), "subnets": (subnets, 0)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands or len(sys.argv) - 2 != commands[sys.argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = commands[sys.argv[1]]
    fn(*sys.argv[2:])
