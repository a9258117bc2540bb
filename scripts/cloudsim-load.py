#!/usr/bin/env python3
"""Load generator for scripts/bench-cloudsim.sh (Python standard library only).

Drives a running cloudsim the way cutover and its tests do: the EKS REST API over plain HTTP, and the
cluster's Kubernetes API over HTTPS with the cluster CA and an EKS bearer token (a SigV4-presigned STS
GetCallerIdentity URL, signed with the credentials cloudsim was started with).

Phase 1 (memory): a cluster with a 50-node node group and a 200-replica Deployment; waits until all 200
pods are Ready, then reads cloudsim's RSS from /proc.
Phase 2 (throughput): opens 1,000 watches on ConfigMaps (100 per namespace in 10 namespaces), then sends
200 requests/s for DURATION seconds (90% reads: get node, list pods, get configmap; 10% ConfigMap writes
in the watched namespaces). Latency counts from when a request was due, so falling behind shows. At the
end every watcher must have seen every write in its namespace.

Prints one JSON report on stdout; exits 1 when a target is missed. Every wait has a timeout; all
traffic goes to 127.0.0.1.
"""

import argparse
import asyncio
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse

CLUSTER = "bench"
NAMESPACES = [f"bench-{i}" for i in range(10)]
WATCHES_PER_NAMESPACE = 100


# --- EKS (plain HTTP, REST-JSON; cloudsim does not check SigV4 on the EKS API) --------------------

def eks(endpoint, method, path, body=None):
    url = urllib.parse.urlparse(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"content-type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"{}")
    conn.close()
    if resp.status >= 300:
        raise RuntimeError(f"EKS {method} {path}: HTTP {resp.status} {data}")
    return data


def wait_for(what, timeout, check, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- EKS bearer token ------------------------------------------------------------------------------

def eks_token(cluster, region, access_key, secret_key):
    """`aws eks get-token`: k8s-aws-v1. + base64url(presigned STS GetCallerIdentity URL)."""
    host = f"sts.{region}.amazonaws.com"
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{region}/sts/aws4_request"
    params = {
        "Action": "GetCallerIdentity", "Version": "2011-06-15",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date, "X-Amz-Expires": "60", "X-Amz-SignedHeaders": "host;x-k8s-aws-id",
    }
    enc = lambda s: urllib.parse.quote(s, safe="-_.~")
    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    canonical = "\n".join(["GET", "/", query, f"host:{host}\nx-k8s-aws-id:{cluster}\n",
                           "host;x-k8s-aws-id", hashlib.sha256(b"").hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    url = f"https://{host}/?{query}&X-Amz-Signature={signature}"
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


# --- Kubernetes API (HTTPS, HTTP/1.1 keep-alive, minimal client) -----------------------------------

class Kube:
    def __init__(self, endpoint, ca_pem, token):
        url = urllib.parse.urlparse(endpoint)
        self.host, self.port = url.hostname, url.port
        self.ssl = ssl.create_default_context(cadata=ca_pem)
        self.token = token

    async def connect(self):
        return await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, ssl=self.ssl, limit=1 << 22), 30)

    def head(self, method, path, body):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                 f"Authorization: Bearer {self.token}", "Accept: application/json"]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")

    @staticmethod
    async def read_head(reader):
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    @staticmethod
    async def read_chunk(reader):
        size = int((await reader.readline()).split(b";")[0], 16)
        data = await reader.readexactly(size) if size else b""
        await reader.readline()
        return data

    async def request(self, conn, method, path, obj=None):
        reader, writer = conn
        writer.write(self.head(method, path, json.dumps(obj).encode() if obj is not None else None))
        await writer.drain()
        status, headers = await self.read_head(reader)
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while chunk := await self.read_chunk(reader):
                body += chunk
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, body

    async def call(self, method, path, obj=None):
        conn = await self.connect()
        try:
            status, body = await self.request(conn, method, path, obj)
        finally:
            conn[1].close()
        if status >= 300:
            raise RuntimeError(f"kube {method} {path}: HTTP {status} {body[:300]!r}")
        return json.loads(body)


class Watcher:
    """One open watch; counts ADDED/MODIFIED events by object name."""

    def __init__(self, kube, namespace):
        self.kube, self.namespace, self.seen, self.error = kube, namespace, set(), None

    async def open(self):
        self.conn = await self.kube.connect()
        reader, writer = self.conn
        path = f"/api/v1/namespaces/{self.namespace}/configmaps?watch=true&timeoutSeconds=600"
        writer.write(self.kube.head("GET", path, None))
        await writer.drain()
        status, headers = await Kube.read_head(reader)
        if status != 200 or headers.get("transfer-encoding") != "chunked":
            raise RuntimeError(f"watch in {self.namespace}: HTTP {status} {headers}")
        self.task = asyncio.ensure_future(self.run())

    async def run(self):
        reader = self.conn[0]
        buf = b""
        try:
            while chunk := await Kube.read_chunk(reader):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self.seen.add(event["object"]["metadata"]["name"])
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as e:  # noqa: BLE001 - reported in the results
            self.error = repr(e)

    def close(self):
        self.task.cancel()
        self.conn[1].close()


def rss_mb(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else None


# --- the phases ------------------------------------------------------------------------------------

def setup_cluster(args):
    eks(args.eks, "POST", "/clusters", {
        "name": CLUSTER, "version": "1.32", "roleArn": "arn:aws:iam::123456789012:role/bench",
        "resourcesVpcConfig": {"subnetIds": ["subnet-a", "subnet-b"]}})
    cluster = wait_for("cluster ACTIVE", 120, lambda: (
        c := eks(args.eks, "GET", f"/clusters/{CLUSTER}")["cluster"])["status"] == "ACTIVE" and c)
    eks(args.eks, "POST", f"/clusters/{CLUSTER}/node-groups", {
        "nodegroupName": "general", "nodeRole": "arn:aws:iam::123456789012:role/node",
        "subnets": ["subnet-a"], "instanceTypes": ["m6i.large"],
        "scalingConfig": {"minSize": 50, "desiredSize": 50, "maxSize": 50}})
    wait_for("node group ACTIVE", 120, lambda: eks(
        args.eks, "GET", f"/clusters/{CLUSTER}/node-groups/general")["nodegroup"]["status"] == "ACTIVE")
    ca = base64.b64decode(cluster["certificateAuthority"]["data"]).decode()
    token = eks_token(CLUSTER, args.region, os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    return Kube(cluster["endpoint"], ca, token)


async def memory_phase(kube, args):
    async def ready_nodes():
        nodes = (await kube.call("GET", "/api/v1/nodes"))["items"]
        return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
                   for n in nodes)
    await async_wait("50 Ready nodes", 120, lambda: ready_nodes(), lambda n: n >= 50)
    for ns in ["bench"] + NAMESPACES:
        await kube.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    await kube.call("POST", "/apis/apps/v1/namespaces/bench/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "bench"},
        "spec": {"replicas": 200, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})

    async def ready_pods():
        pods = (await kube.call("GET", "/api/v1/namespaces/bench/pods"))["items"]
        return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
                   for p in pods)
    await async_wait("200 Ready pods", 180, ready_pods, lambda n: n >= 200)
    rss, peak = rss_mb(args.pid)
    return {"nodes": 50, "readyPods": 200, "rssMb": round(rss, 1), "peakRssMb": round(peak, 1)}


async def async_wait(what, timeout, probe, done):
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {value})")
        await asyncio.sleep(0.5)


async def throughput_phase(kube, args):
    t0 = time.monotonic()
    watchers = [Watcher(kube, ns) for ns in NAMESPACES for _ in range(WATCHES_PER_NAMESPACE)]
    for i in range(0, len(watchers), 50):  # open in batches: TLS handshakes are the client's cost
        await asyncio.gather(*(w.open() for w in watchers[i:i + 50]))
    opened_in = time.monotonic() - t0
    node = (await kube.call("GET", "/api/v1/nodes?limit=1"))["items"][0]["metadata"]["name"]

    total = int(args.rate * args.duration)
    queue = asyncio.Queue()
    latencies, errors, writes = [], [], []

    async def worker():
        conn = await kube.connect()
        while (item := await queue.get()) is not None:
            due, method, path, obj = item
            try:
                status, body = await kube.request(conn, method, path, obj)
                if status >= 300:
                    errors.append(f"{method} {path}: HTTP {status} {body[:200]!r}")
            except Exception as e:  # noqa: BLE001 - counted, and the connection replaced
                errors.append(f"{method} {path}: {e!r}")
                conn[1].close()
                conn = await kube.connect()
            latencies.append(time.monotonic() - due)
        conn[1].close()

    workers = [asyncio.ensure_future(worker()) for _ in range(args.connections)]
    start = time.monotonic()
    for i in range(total):
        due = start + i / args.rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        ns = NAMESPACES[i % len(NAMESPACES)]
        kind = i % 10
        if kind == 0:  # write: create a ConfigMap every watcher of the namespace must see
            name = f"cm-{i}"
            writes.append((ns, name))
            obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": {"n": str(i)}}
            queue.put_nowait((due, "POST", f"/api/v1/namespaces/{ns}/configmaps", obj))
        elif kind < 5:
            queue.put_nowait((due, "GET", f"/api/v1/nodes/{node}", None))
        elif kind < 8:
            queue.put_nowait((due, "GET", "/api/v1/namespaces/bench/pods?limit=50", None))
        else:
            queue.put_nowait((due, "GET", f"/api/v1/namespaces/{ns}/configmaps", None))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.monotonic() - start

    # Every watcher must see every write in its namespace (allow the last events a moment to arrive).
    expected = {ns: {n for (wns, n) in writes if wns == ns} for ns in NAMESPACES}

    def missing():
        return sum(len(expected[w.namespace] - w.seen) for w in watchers)
    deadline = time.monotonic() + 10
    while missing() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    still_open = sum(1 for w in watchers if not w.task.done())
    watch_errors = [w.error for w in watchers if w.error]
    result = {
        "watches": len(watchers), "watchesOpenedInSecs": round(opened_in, 1), "watchesStillOpen": still_open,
        "watchErrors": watch_errors[:3], "writes": len(writes),
        "watchEventsDelivered": sum(len(w.seen) for w in watchers),
        "watchEventsMissing": missing(),
        "requests": total, "seconds": round(elapsed, 2), "achievedRps": round(total / elapsed, 1),
        "errors": len(errors), "firstErrors": errors[:3],
        "latencyMs": {"p50": round(percentile(latencies, 0.5) * 1000, 1),
                      "p99": round(percentile(latencies, 0.99) * 1000, 1),
                      "max": round(max(latencies) * 1000, 1)},
    }
    rss, peak = rss_mb(args.pid)
    result["rssMb"], result["peakRssMb"] = round(rss, 1), round(peak, 1)
    for w in watchers:
        w.close()
    return result


async def main_async(args, kube):
    memory = await memory_phase(kube, args)
    throughput = await throughput_phase(kube, args)
    return memory, throughput


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eks", required=True, help="cloudsim's EKS endpoint, http://127.0.0.1:PORT")
    p.add_argument("--pid", required=True, type=int, help="cloudsim's process id (for RSS)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--rate", type=float, default=200.0, help="requests per second")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    p.add_argument("--connections", type=int, default=32, help="keep-alive connections for requests")
    p.add_argument("--max-rss-mb", type=float, default=200.0)
    p.add_argument("--max-p99-ms", type=float, default=250.0)
    args = p.parse_args()

    kube = setup_cluster(args)
    memory, throughput = asyncio.run(main_async(args, kube))
    failures = []
    if memory["peakRssMb"] > args.max_rss_mb:
        failures.append(f"peak RSS {memory['peakRssMb']} MB with 50 nodes and 200 pods exceeds {args.max_rss_mb} MB")
    if throughput["achievedRps"] < args.rate * 0.97:
        failures.append(f"achieved {throughput['achievedRps']} req/s, target {args.rate}")
    if throughput["errors"]:
        failures.append(f"{throughput['errors']} request errors, e.g. {throughput['firstErrors']}")
    if throughput["latencyMs"]["p99"] > args.max_p99_ms:
        failures.append(f"p99 latency {throughput['latencyMs']['p99']} ms exceeds {args.max_p99_ms} ms")
    if throughput["watchesStillOpen"] != throughput["watches"] or throughput["watchEventsMissing"]:
        failures.append(f"watches: {throughput['watchesStillOpen']} of {throughput['watches']} open, "
                        f"{throughput['watchEventsMissing']} events missing, errors {throughput['watchErrors']}")
    print(json.dumps({"memory": memory, "throughput": throughput, "failures": failures}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
