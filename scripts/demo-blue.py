"""Pre-creates what a team already runs before its quarterly upgrade, for scripts/demo.sh:
the live (blue) EKS cluster with a node group, and the Route53 zone whose weighted record sends
all of api.example.com to blue's load balancer. Uses boto3 (from the moto virtualenv) against the
endpoints in the AWS_ENDPOINT_URL_* variables.

  demo-blue.py cluster NAME VERSION        create the cluster and node group, wait until ACTIVE
  demo-blue.py dns ZONE RECORD SETID TARGET create the zone and blue's weighted CNAME at 100
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


if __name__ == "__main__":
    commands = {"cluster": (cluster, 2), "dns": (dns, 4)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands or len(sys.argv) - 2 != commands[sys.argv[1]][1]:
        sys.exit(__doc__)
    fn, _ = commands[sys.argv[1]]
    fn(*sys.argv[2:])
