#!/usr/bin/env bash
# Installs the pinned tools of make k8s-check into .cache/deploy-tools/ (gitignored), once:
#   kustomize    renders the overlays                  (Go module proxy)
#   kubeconform  validates the objects against schemas (Go module proxy)
#   schemas      Kubernetes' strict JSON schemas, from the kubernetes-validate wheel (PyPI),
#                checked against its pinned sha256 and laid out for kubeconform
#   promql-check deploy/checks/promql: Prometheus's PromQL parser (pinned in its go.mod/go.sum)
# Idempotent: a second run checks a few paths and exits. Prints the tools' folder on stdout;
# in it, bin/kustomize, bin/kubeconform, bin/promql-check and schemas/ point to the pinned
# versions (what the guide's commands and make k8s-check use).
# Needs Go >= 1.24 (the pinned tools' go.mod), python3 and pip; install-deps.sh brings the rest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

KUSTOMIZE_VERSION=v5.8.1
KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBERNETES_VALIDATE_SHA256=85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9
# The Kubernetes version the manifests are validated against (the wheel has 1.25 ... 1.37).
: "${CAISSE_K8S_VERSION:=1.33.0}"

TOOLS="$PWD/.cache/deploy-tools"
kustomize="$TOOLS/kustomize-$KUSTOMIZE_VERSION/kustomize"
kubeconform="$TOOLS/kubeconform-$KUBECONFORM_VERSION/kubeconform"
schemas="$TOOLS/schemas-kv$KUBERNETES_VALIDATE_VERSION"

log() { echo "tools.sh: $*" >&2; }

go_install() { # module@version, target binary
  local module=$1 target=$2
  command -v go >/dev/null 2>&1 || {
    log "Go is needed to build $module (the Go module proxy is the source); install Go >= 1.24"
    exit 1
  }
  log "installing $module"
  mkdir -p "$(dirname "$target")"
  # The module and build caches stay Go's own (outside the checkout), so a fresh clone on the
  # same machine only links again.
  GOBIN="$(dirname "$target")" GOFLAGS=-modcacherw go install "$module" >&2
}

[ -x "$kustomize" ] || go_install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" "$kustomize"
# Rebuilt when its source or pins change.
promql_id=$(cat deploy/checks/promql/main.go deploy/checks/promql/go.mod deploy/checks/promql/go.sum | sha256sum | cut -c1-12)
promql_check="$TOOLS/promql-check-$promql_id/promql-check"
if [ ! -x "$promql_check" ]; then
  command -v go >/dev/null 2>&1 || { log "Go >= 1.24 is needed to build deploy/checks/promql"; exit 1; }
  log "building deploy/checks/promql"
  rm -rf "$TOOLS"/promql-check-*
  mkdir -p "$(dirname "$promql_check")"
  (cd deploy/checks/promql && GOFLAGS=-modcacherw go build -o "$promql_check" .) >&2
fi
[ -x "$kubeconform" ] || go_install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" "$kubeconform"

if [ ! -f "$schemas/v$CAISSE_K8S_VERSION-standalone-strict/deployment-apps-v1.json" ]; then
  log "installing the Kubernetes v$CAISSE_K8S_VERSION schemas (kubernetes-validate $KUBERNETES_VALIDATE_VERSION)"
  dl=$(mktemp -d -t caisse-k8s-schemas.XXXXXX)
  trap 'rm -rf "$dl"' EXIT
  pip=(python3 -m pip)
  if ! "${pip[@]}" --version >/dev/null 2>&1; then
    pip=(/usr/bin/python3 -m pip)
  fi
  "${pip[@]}" download --quiet --no-deps --only-binary=:all: --dest "$dl" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
  wheel=$(ls "$dl"/kubernetes_validate-*.whl)
  echo "$KUBERNETES_VALIDATE_SHA256  $wheel" | sha256sum --check --quiet - ||
    { log "$wheel does not have the pinned sha256"; exit 1; }
  mkdir -p "$schemas"
  /usr/bin/python3 deploy/checks/k8s_schemas.py "$wheel" "$CAISSE_K8S_VERSION" "$schemas"
fi
mkdir -p "$TOOLS/bin"
ln -sfn "$kustomize" "$TOOLS/bin/kustomize"
ln -sfn "$kubeconform" "$TOOLS/bin/kubeconform"
ln -sfn "$promql_check" "$TOOLS/bin/promql-check"
ln -sfn "$schemas" "$TOOLS/schemas"
echo "$TOOLS"
