# Shared by scripts/demo.sh and scripts/bench-upgrade.sh: starts the local stand-ins on fixed
# loopback ports (cloudsim, moto, a chart repository, an OCI registry), exports the environment
# cutover needs to reach them, and pre-creates the live blue cluster payments-1-31 serving
# api.example.com through a weighted record. Everything started is stopped by `standins_down`
# (installed as an EXIT trap). Source it, then call `standins_up SCALE [PROFILE]`.

standins_up() {
SCALE="$1"
PROFILE_ARGS=()
if [ -n "${2:-}" ]; then PROFILE_ARGS=(--profile "$2"); fi
TOOLS="${CUTOVER_TOOLS_DIR:-$HOME/.cache/cutover/tools}"
HELM="$TOOLS/bin/helm3"
KUBECTL="$TOOLS/bin/kubectl"
PY="$TOOLS/venv/bin/python"
CUTOVER="$CARGO_TARGET_DIR/debug/cutover"
# Fixed ports: the plan names the chart repository and the registry by address.
CLOUDSIM_PORT=17080 MOTO_PORT=17081 CHARTS_PORT=18879 REGISTRY_PORT=15000
for port in $CLOUDSIM_PORT $MOTO_PORT $CHARTS_PORT $REGISTRY_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop whatever listens there (an earlier demo?) and run again" >&2
    exit 1
  fi
done

WORK="$(mktemp -d -t cutover-demo.XXXXXX)"
PIDS=()
standins_down() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap standins_down EXIT

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: $2 did not start on port $1; its log is $WORK/$2.log" >&2
  exit 1
}

# Test-only credentials: cloudsim verifies EKS tokens against them, moto accepts anything.
export AWS_ACCESS_KEY_ID=AKIACUTOVERDEMO00000 AWS_SECRET_ACCESS_KEY=cutover-demo-secret
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ENDPOINT_URL_EKS="http://127.0.0.1:$CLOUDSIM_PORT"
export AWS_ENDPOINT_URL_ROUTE_53="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$MOTO_PORT" AWS_ENDPOINT_URL_STS="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_EC2="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_IAM="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$MOTO_PORT"
export AWS_ENDPOINT_URL_SERVICE_QUOTAS="http://127.0.0.1:$MOTO_PORT"
export CUTOVER_HELM="$HELM" CUTOVER_HELM_PLAIN_HTTP="127.0.0.1:$REGISTRY_PORT"
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"
export PAYMENTS_DB_PASSWORD="demo-only-password"
# Tell cutover's pollers how much faster than AWS this cloud is, so they poll at its pace.
export CUTOVER_TIME_SCALE="$SCALE"

say "starting cloudsim (time scale $SCALE), moto, the chart repository and the OCI registry"
"$CARGO_TARGET_DIR/debug/cloudsim" serve --listen "127.0.0.1:$CLOUDSIM_PORT" --time-scale "$SCALE" \
  --state-dir "$WORK/cloudsim" "${PROFILE_ARGS[@]}" >"$WORK/cloudsim.log" 2>&1 &
PIDS+=($!)
"$TOOLS/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
mkdir -p "$WORK/charts" "$WORK/registry"
cp infra/charts/dist/*.tgz "$WORK/charts/"
"$HELM" repo index "$WORK/charts" --url "http://127.0.0.1:$CHARTS_PORT"
python3 -m http.server --bind 127.0.0.1 "$CHARTS_PORT" --directory "$WORK/charts" >"$WORK/charts.log" 2>&1 &
PIDS+=($!)
cat >"$WORK/registry.yml" <<YAML
version: 0.1
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$REGISTRY_PORT}
YAML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
wait_port $CLOUDSIM_PORT cloudsim
wait_port $MOTO_PORT moto
wait_port $CHARTS_PORT charts
wait_port $REGISTRY_PORT registry
echo "the example plan's subnets: $("$PY" scripts/demo-blue.py subnets)" >&2
"$HELM" push infra/charts/dist/api-2.4.1.tgz "oci://127.0.0.1:$REGISTRY_PORT/charts" --plain-http >&2

say "pre-creating the live blue cluster payments-1-31 (Kubernetes 1.31) serving api.example.com"
"$PY" scripts/demo-blue.py cluster payments-1-31 1.31
"$CUTOVER" kubeconfig --cluster payments-1-31 --file "$WORK/blue.kubeconfig"
KUBECONFIG="$WORK/blue.kubeconfig" "$HELM" install ingress ingress --repo "http://127.0.0.1:$CHARTS_PORT" \
  --version 4.11.3 -n ingress --create-namespace -f plans/values/ingress.yaml --wait --timeout 2m >&2
BLUE_LB=""
for _ in $(seq 200); do
  BLUE_LB="$(KUBECONFIG="$WORK/blue.kubeconfig" "$KUBECTL" get service -n ingress ingress-nginx-controller \
    -o jsonpath='{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true)"
  [ -n "$BLUE_LB" ] && break
  sleep 0.1
done
[ -n "$BLUE_LB" ] || { echo "demo: blue's load balancer never got an address" >&2; exit 1; }
ZONE_ID="$("$PY" scripts/demo-blue.py dns example.com api.example.com payments-prod-blue "$BLUE_LB")"
echo "blue serves api.example.com through $BLUE_LB (zone $ZONE_ID, weight 100)" >&2

}
