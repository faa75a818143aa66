#!/usr/bin/env bash
# make k8s-check: renders every overlay of deploy/k8s with the pinned kustomize, validates
# every object with kubeconform against the strict schemas of one Kubernetes version
# (unknown fields, wrong types and unknown kinds are errors; the PrometheusRule CRD is
# skipped by name), applies deploy/checks/k8s_policy.py, checks deploy/OPERATIONS.md's
# configuration reference against the binaries' --help, and proves each of these rejects
# deliberately broken input. Needs the binaries (make all); installs its tools into
# .cache/deploy-tools/ on first use (deploy/k8s/tools.sh). Ends with
# "k8s-check: N passed, M failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=../env.sh source-path=SCRIPTDIR
. deploy/env.sh
: "${CAISSE_K8S_VERSION:=1.33.0}"
export CAISSE_K8S_VERSION
PY=/usr/bin/python3
BIN=${CAISSE_BIN_DIR:-build/bin}
TOOLS=$(bash deploy/k8s/tools.sh)
KUSTOMIZE=$TOOLS/bin/kustomize
KUBECONFORM=$TOOLS/bin/kubeconform
PROMQL_CHECK=$TOOLS/bin/promql-check
SCHEMAS=$TOOLS/schemas
tmp=$(mktemp -d -t caisse-k8s-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# Only the CRD is skipped; a kind without a schema is otherwise an error.
validate() {
  "$KUBECONFORM" -strict -summary -kubernetes-version "$CAISSE_K8S_VERSION" \
    -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -skip PrometheusRule "$@"
}

# ---- the binaries' --help ---------------------------------------------------------
mkdir -p "$tmp/help"
for b in "$BIN"/caisse-*; do
  [ -x "$b" ] || continue
  "$b" --help >"$tmp/help/$(basename "$b")" 2>&1 || true
  [ -s "$tmp/help/$(basename "$b")" ] || { echo "k8s-check: $b --help printed nothing" >&2; exit 1; }
done
[ -s "$tmp/help/caisse-gateway" ] || { echo "k8s-check: $BIN/caisse-gateway is missing: run make first" >&2; exit 1; }
graces=$(sed -n 's/^  CAISSE_SHUTDOWN_GRACE_MS .*default "\([0-9]*\)"$/\1/p' "$tmp"/help/caisse-* | sort -u)
if [ "$(echo "$graces" | wc -l)" -ne 1 ] || [ -z "$graces" ]; then
  echo "k8s-check: the services print different CAISSE_SHUTDOWN_GRACE_MS defaults: $graces" >&2
  exit 1
fi

policy() { # rendered-file [more args]
  local rendered=$1 extra=()
  shift
  # An overlay that renders no caisse-secrets expects the operator's, from the template.
  if ! grep -q '^  name: caisse-secrets' "$rendered"; then
    extra=(--secrets deploy/k8s/secret.template.yaml)
  fi
  "$PY" deploy/checks/k8s_policy.py "$rendered" --grace-default "$graces" \
    --kafka-version "$CAISSE_KAFKA_VERSION" "${extra[@]}" "$@"
}

# ---- every overlay ----------------------------------------------------------------
overlays=()
for dir in deploy/k8s/overlays/*/; do
  name=$(basename "$dir")
  overlays+=("$name")
  if ! "$KUSTOMIZE" build "$dir" >"$tmp/$name.yaml" 2>"$tmp/$name.err"; then
    fail "overlay $name does not render: $(head -n 3 "$tmp/$name.err")"
    continue
  fi
  if validate "$tmp/$name.yaml" >"$tmp/$name.kc" 2>&1; then
    ok "overlay $name: $(tail -n 1 "$tmp/$name.kc") (Kubernetes $CAISSE_K8S_VERSION, strict)"
  else
    cat "$tmp/$name.kc"
    fail "overlay $name: schema validation"
  fi
  if policy "$tmp/$name.yaml" >"$tmp/$name.policy" 2>&1; then
    ok "overlay $name: policy (deploy/checks/k8s_policy.py)"
  else
    cat "$tmp/$name.policy"
    fail "overlay $name: policy"
  fi
done
[ "${#overlays[@]}" -ge 2 ] || fail "expected a dev and a production overlay, found ${overlays[*]}"
if validate deploy/k8s/secret.template.yaml >"$tmp/secret.kc" 2>&1; then
  ok "secret.template.yaml: $(tail -n 1 "$tmp/secret.kc")"
else
  cat "$tmp/secret.kc"
  fail "secret.template.yaml: schema validation"
fi

# ---- the configuration reference --------------------------------------------------
# Every CAISSE_* name a manifest or the compose file sets must be documented.
for name in "${overlays[@]}"; do
  "$PY" - "$tmp/$name.yaml" "overlay/$name" >>"$tmp/set-by" <<'PYEOF'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if not d:
        continue
    names = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys()) if d["kind"] in ("ConfigMap", "Secret") else set()
    pod = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        names |= {e["name"] for e in c.get("env") or []}
    for n in sorted(names):
        if n.startswith("CAISSE_"):
            print(sys.argv[2], n)
PYEOF
done
env -u CAISSE_HTTP_PORT -u CAISSE_INTERNAL_TOKEN -u CAISSE_IDEMPOTENCY_SECRET -u CAISSE_COMMAND_MAC_KEY -u CAISSE_COMMAND_MAC_KEY_PREVIOUS -u CAISSE_PUBLIC_BASE_URL -u CAISSE_LOG_LEVEL \
  docker-compose -f docker-compose.yml config >"$tmp/compose.yml"
"$PY" - "$tmp/compose.yml" >>"$tmp/set-by" <<'PYEOF'
import sys, yaml
for s in yaml.safe_load(open(sys.argv[1]))["services"].values():
    env = s.get("environment") or {}
    for n in sorted(env):
        if n.startswith("CAISSE_"):
            print("docker-compose.yml", n)
PYEOF
rules_args=()
for name in "${overlays[@]}"; do rules_args+=(--rules "$tmp/$name.yaml"); done
if "$PY" deploy/checks/config_docs.py deploy/OPERATIONS.md --help-dir "$tmp/help" --set-by "$tmp/set-by" "${rules_args[@]}"; then
  ok "deploy/OPERATIONS.md documents the $(find "$tmp/help" -type f | wc -l) binaries' variables, the $(awk '{print $2}' "$tmp/set-by" | sort -u | wc -l) the deployments set, and the alerts' metrics"
else
  fail "deploy/OPERATIONS.md configuration reference or metrics"
fi

# ---- the alert rules are valid PromQL (Prometheus's own parser) -------------------
rule_exprs() { # rendered files -> JSON [{name, expr}] of every PrometheusRule alert
  "$PY" -c '
import json, sys, yaml
out = [{"name": r["alert"], "expr": str(r["expr"])} for p in sys.argv[1:] for d in yaml.safe_load_all(open(p))
       if d and d["kind"] == "PrometheusRule" for g in d["spec"]["groups"] for r in g["rules"]]
print(json.dumps(out))' "$@"
}
rule_exprs "$tmp"/*.yaml >"$tmp/rules.json"
n_rules=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$tmp/rules.json")
if [ "$n_rules" -eq 0 ]; then
  fail "no PrometheusRule alerts in any overlay"
elif "$PROMQL_CHECK" <"$tmp/rules.json"; then
  ok "the $n_rules alert expressions of the PrometheusRule parse as PromQL vectors"
else
  fail "PrometheusRule expressions"
fi

# ---- negative tests: each check rejects what it must ------------------------------
mutate() { "$PY" deploy/checks/mutate.py "$tmp/dev.yaml" "$tmp/broken.yaml" "$1"; }
expect_invalid() { # what, mutation: kubeconform must reject
  local what=$1
  if ! mutate "$2"; then fail "negative test '$what': could not make the broken copy"; return; fi
  if validate "$tmp/broken.yaml" >"$tmp/out" 2>&1; then
    fail "kubeconform accepted $what"
  else
    ok "kubeconform rejects $what: $(grep -m1 -oE "(additional properties.*|got .*|could not find schema.*)" "$tmp/out")"
  fi
}
expect_policy_rejects() { # what, mutation
  local what=$1
  if ! mutate "$2"; then fail "negative test '$what': could not make the broken copy"; return; fi
  if policy "$tmp/broken.yaml" >"$tmp/out" 2>&1; then
    fail "the policy accepted $what"
  else
    ok "policy rejects $what: $(head -n 1 "$tmp/out" | sed 's/^[^:]*: //')"
  fi
}
C="['spec']['template']['spec']['containers'][0]"
expect_invalid "an unknown field" "obj('Deployment','caisse-gateway')${C}['livenessProbe']['httpGet']['pth'] = '/healthz'"
expect_invalid "a wrong type" "obj('StatefulSet','caisse-session-worker')['spec']['replicas'] = 'two'"
expect_invalid "an unknown kind" "obj('PodDisruptionBudget','caisse-gateway')['kind'] = 'PodDisruptionBudge'"
expect_policy_rejects "a grace period shorter than the services'" "obj('Deployment','caisse-gateway')['spec']['template']['spec']['terminationGracePeriodSeconds'] = 24"
expect_policy_rejects "a gateway that stops routing only when its listeners close" "c = obj('Deployment','caisse-gateway')${C}; c['env'] = [e for e in c['env'] if e['name'] != 'CAISSE_SHUTDOWN_DELAY_MS']"
expect_policy_rejects "a shutdown delay as long as the grace" "c = obj('Deployment','caisse-gateway')${C}; [e.update(value='20000') for e in c['env'] if e['name'] == 'CAISSE_SHUTDOWN_DELAY_MS']"
expect_policy_rejects "CAISSE_SHUTDOWN_GRACE_MS raised alone" "next(d for d in docs if d['kind'] == 'ConfigMap')['data']['CAISSE_SHUTDOWN_GRACE_MS'] = '40000'"
expect_policy_rejects "a missing secret key" "[e['valueFrom']['secretKeyRef'].update(key='CAISSE_INTERNAL_TOKN') for e in obj('Deployment','caisse-gateway')${C}['env'] if e['name'] == 'CAISSE_INTERNAL_TOKEN']"
expect_policy_rejects "the internal port on the public Service" "obj('Service','caisse-gateway')['spec']['ports'].append({'name': 'internal', 'port': 8081, 'targetPort': 'internal'})"
expect_policy_rejects "a consumer without static membership" "c = obj('StatefulSet','caisse-webhook-worker')$C; c['env'] = [e for e in c['env'] if e['name'] != 'CAISSE_INSTANCE_ID']"
expect_policy_rejects "a consumer as a Deployment" "obj('StatefulSet','caisse-session-worker')['kind'] = 'Deployment'"
expect_policy_rejects "a writable root filesystem" "obj('Deployment','caisse-expiry-worker')${C}['securityContext']['readOnlyRootFilesystem'] = False"
expect_policy_rejects "a missing memory limit" "del obj('Job','caisse-migrate')${C}['resources']['limits']['memory']"
expect_policy_rejects "a probe on the wrong port" "obj('StatefulSet','caisse-session-worker')${C}['readinessProbe']['httpGet']['port'] = 8093"
expect_policy_rejects "the migration Job outside its apply phase" "del obj('Job','caisse-migrate')['metadata']['labels']['caisse.io/apply-phase']"
expect_policy_rejects "an internal port open to all" "obj('NetworkPolicy','caisse-gateway')['spec']['ingress'][1].pop('from')"
expect_policy_rejects "another Kafka version than the stack's" "obj('StatefulSet','kafka')${C}['image'] = 'apache/kafka:3.9.0'"

# The documentation check: an undocumented variable, a wrong default, an undocumented setting.
cp -r "$tmp/help" "$tmp/help-broken"
printf '  CAISSE_NOT_DOCUMENTED               integer 1..2, default "1"\n      x\n' >>"$tmp/help-broken/caisse-expiry-worker"
if "$PY" deploy/checks/config_docs.py deploy/OPERATIONS.md --help-dir "$tmp/help-broken" >"$tmp/out" 2>&1; then
  fail "the documentation check accepted an undocumented variable"
else
  ok "documentation check rejects an undocumented variable: $(grep -m1 NOT_DOCUMENTED "$tmp/out" | sed 's/^[^:]*: //')"
fi
# shellcheck disable=SC2016 # backticks are Markdown here
sed 's/| `CAISSE_EXPIRY_BATCH` | expiry-worker | `1000` |/| `CAISSE_EXPIRY_BATCH` | expiry-worker | `100` |/' deploy/OPERATIONS.md >"$tmp/guide.md"
if cmp -s deploy/OPERATIONS.md "$tmp/guide.md"; then
  fail "negative test 'wrong default': the edit changed nothing"
elif "$PY" deploy/checks/config_docs.py "$tmp/guide.md" --help-dir "$tmp/help" >"$tmp/out" 2>&1; then
  fail "the documentation check accepted a wrong default"
else
  ok "documentation check rejects a wrong default: $(grep -m1 EXPIRY_BATCH "$tmp/out" | sed 's/^[^:]*: //')"
fi
echo "overlay/dev CAISSE_EXPIRY_BATCHES" >"$tmp/set-by-broken"
if "$PY" deploy/checks/config_docs.py deploy/OPERATIONS.md --help-dir "$tmp/help" --set-by "$tmp/set-by-broken" >"$tmp/out" 2>&1; then
  fail "the documentation check accepted a misspelt variable in a manifest"
else
  ok "documentation check rejects a misspelt variable in a manifest: $(grep -m1 BATCHES "$tmp/out" | sed 's/^[^:]*: //')"
fi

# The PromQL check: an unclosed parenthesis, and a scalar where an alert needs a vector.
echo '[{"name": "Broken", "expr": "sum(rate(caisse_db_errors_total[5m]) > 0.1"}]' >"$tmp/broken.json"
if "$PROMQL_CHECK" <"$tmp/broken.json" >"$tmp/out" 2>&1; then
  fail "the PromQL check accepted an unclosed parenthesis"
else
  ok "PromQL check rejects an unclosed parenthesis: $(head -n 1 "$tmp/out")"
fi
echo '[{"name": "Scalar", "expr": "scalar(sum(caisse_outbox_backlog))"}]' >"$tmp/broken.json"
if "$PROMQL_CHECK" <"$tmp/broken.json" >"$tmp/out" 2>&1; then
  fail "the PromQL check accepted a scalar alert"
else
  ok "PromQL check rejects a scalar alert: $(head -n 1 "$tmp/out")"
fi
# The guide check: an alert on a metric the guide does not list.
"$PY" deploy/checks/mutate.py "$tmp/production.yaml" "$tmp/broken.yaml" \
  "obj('PrometheusRule')['spec']['groups'][0]['rules'][0]['expr'] = 'caisse_http_requests_totl > 1'"
if "$PY" deploy/checks/config_docs.py deploy/OPERATIONS.md --help-dir "$tmp/help" --rules "$tmp/broken.yaml" >"$tmp/out" 2>&1; then
  fail "the documentation check accepted an alert on an undocumented metric"
else
  ok "documentation check rejects an alert on an undocumented metric: $(grep -m1 totl "$tmp/out" | sed 's/^[^:]*: //')"
fi

echo "k8s-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
