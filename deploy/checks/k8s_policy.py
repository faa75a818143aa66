"""Rules a rendered caisse overlay must keep that no schema can express.

usage: k8s_policy.py RENDERED_YAML --grace-default MS --kafka-version V [--secrets FILE]...

RENDERED_YAML is `kustomize build deploy/k8s/overlays/<name>`. --secrets adds Secrets that
the overlay expects to exist without rendering them (deploy/k8s/secret.template.yaml).
--grace-default is CAISSE_SHUTDOWN_GRACE_MS's default as the binaries print it (--help).
Prints one line per problem; exit status 1 if there is any.

Workloads are the Deployments, StatefulSets and Jobs; caisse's own are labelled
app.kubernetes.io/part-of=caisse, the rest (the dev profile's PostgreSQL and Kafka) get the
rules that every pod here keeps.
"""
import argparse
import re
import sys

import yaml

MARGIN_MS = 5000  # beyond preStop + grace: the Kafka flush, offsets, exit
CONSUMERS = ("caisse-session-worker", "caisse-webhook-worker")  # Kafka group members
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
PHASES = {"Namespace": "namespace", "ConfigMap": "config", "Secret": "config",
          "ServiceAccount": "config", "Job": "migrate"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("--grace-default", type=int, required=True)
    ap.add_argument("--kafka-version", required=True)
    ap.add_argument("--secrets", action="append", default=[])
    args = ap.parse_args()
    with open(args.rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    external = []
    for path in args.secrets:
        with open(path) as f:
            external += [d for d in yaml.safe_load_all(f) if d]
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)

    def name(d):
        return f"{d['kind']} {d['metadata']['name']}"

    def labels(d):
        return d.get("metadata", {}).get("labels") or {}

    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    secrets = {}
    for d in docs + external:
        if d["kind"] == "Secret":
            secrets[d["metadata"]["name"]] = set((d.get("data") or {}).keys()) | set((d.get("stringData") or {}).keys())
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")]
    for d in docs:
        need(d["kind"] not in ("DaemonSet", "CronJob", "ReplicaSet", "Pod"), f"{name(d)}: unexpected kind")

    # ---- one namespace, and apply phases that match the documented order ----------
    namespaces = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
    need(len(namespaces) == 1, f"expected one Namespace, found {namespaces}")
    for d in docs:
        if d["kind"] != "Namespace" and namespaces:
            need(d["metadata"].get("namespace") == namespaces[0],
                 f"{name(d)}: namespace {d['metadata'].get('namespace')}, not {namespaces[0]}")
        phase = labels(d).get("caisse.io/apply-phase")
        want = PHASES.get(d["kind"]) if d["kind"] != "Job" or labels(d).get("app.kubernetes.io/component") == "migration" else None
        need(phase == want, f"{name(d)}: caisse.io/apply-phase is {phase!r}, expected {want!r} "
                            "(the apply order of deploy/OPERATIONS.md)")
    for ext in external:
        if namespaces:
            need(ext["metadata"].get("namespace") == namespaces[0],
                 f"external {name(ext)}: namespace {ext['metadata'].get('namespace')}, not {namespaces[0]}")

    hpa_targets = {(h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"])
                   for h in docs if h["kind"] == "HorizontalPodAutoscaler"}
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    pod_labels = {}

    for w in workloads:
        wn = name(w)
        caisse = labels(w).get("app.kubernetes.io/part-of") == "caisse"
        long_running = w["kind"] != "Job"
        tpl = w["spec"]["template"]
        pod = tpl["spec"]
        pod_labels[wn] = tpl.get("metadata", {}).get("labels") or {}
        sel = w["spec"].get("selector", {}).get("matchLabels") or {}
        if long_running:
            need(sel and all(pod_labels[wn].get(k) == v for k, v in sel.items()),
                 f"{wn}: selector {sel} does not match its pod labels")
        psc = pod.get("securityContext") or {}
        need(pod.get("automountServiceAccountToken") is False, f"{wn}: automountServiceAccountToken must be false")
        containers = (pod.get("initContainers") or []) + pod["containers"]
        for c in containers:
            cn = f"{wn} container {c['name']}"
            csc = c.get("securityContext") or {}
            need(csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{cn}: runAsNonRoot must be true")
            need(csc.get("runAsUser", psc.get("runAsUser", 1)) != 0, f"{cn}: runAsUser 0")
            need(csc.get("allowPrivilegeEscalation") is False, f"{cn}: allowPrivilegeEscalation must be false")
            need("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), f"{cn}: capabilities must drop ALL")
            seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            need(seccomp == "RuntimeDefault", f"{cn}: seccompProfile must be RuntimeDefault")
            if caisse:
                need(csc.get("readOnlyRootFilesystem") is True, f"{cn}: readOnlyRootFilesystem must be true")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    v = (res.get(kind) or {}).get(r)
                    need(v is not None, f"{cn}: resources.{kind}.{r} missing")
                    need(v is None or QUANTITY.match(str(v)), f"{cn}: resources.{kind}.{r} {v!r} is not a quantity")
            # Effective environment: envFrom ConfigMaps, then env (which wins).
            env = {}
            for src in c.get("envFrom") or []:
                if "configMapRef" in src:
                    ref = src["configMapRef"]["name"]
                    need(ref in configmaps, f"{cn}: envFrom ConfigMap {ref} is not in the render")
                    env.update(configmaps.get(ref, {}))
                if "secretRef" in src:
                    ref = src["secretRef"]["name"]
                    need(ref in secrets, f"{cn}: envFrom Secret {ref} is neither rendered nor in the template")
            field_refs = {}
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "value" in e:
                    env[e["name"]] = str(e["value"])
                elif "secretKeyRef" in vf:
                    ref = vf["secretKeyRef"]
                    need(ref["key"] in secrets.get(ref["name"], set()),
                         f"{cn}: {e['name']} reads key {ref['key']} of Secret {ref['name']}, which is "
                         "neither rendered nor in the template with that key")
                    env[e["name"]] = None
                elif "configMapKeyRef" in vf:
                    ref = vf["configMapKeyRef"]
                    need(ref["key"] in configmaps.get(ref["name"], {}),
                         f"{cn}: {e['name']} reads a missing key {ref['key']} of ConfigMap {ref['name']}")
                    env[e["name"]] = configmaps.get(ref["name"], {}).get(ref["key"])
                elif "fieldRef" in vf:
                    field_refs[e["name"]] = vf["fieldRef"]["fieldPath"]
                    env[e["name"]] = None
            command = (c.get("command") or [""])[0]
            if caisse and command.startswith("caisse-") and command != "caisse-admin":
                need("CAISSE_DATABASE_URL" in env, f"{cn}: CAISSE_DATABASE_URL is not set")
            if not (caisse and long_running and c in pod["containers"]):
                continue
            # ---- a caisse service ------------------------------------------------
            need(not c.get("image", "").endswith(":latest"), f"{cn}: image {c.get('image')} is :latest")
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
            health_port = int(env.get("CAISSE_GATEWAY_INTERNAL_PORT") or 8081) if command == "caisse-gateway" \
                else int(env.get("CAISSE_OPS_PORT") or 0)
            need(health_port, f"{cn}: CAISSE_OPS_PORT is not set")
            for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                hg = (c.get(probe) or {}).get("httpGet") or {}
                port = hg.get("port")
                port = ports.get(port) if isinstance(port, str) else port
                need(hg.get("path") == path and port == health_port,
                     f"{cn}: {probe} must GET {path} on the health port {health_port} "
                     f"(has {hg.get('path')} on {port})")
            # Grace: Kubernetes must wait longer than the service's own shutdown.
            raw = env.get("CAISSE_SHUTDOWN_GRACE_MS")
            grace = int(raw) if raw is not None else args.grace_default
            pre = 0
            cmd = ((((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command")) or []
            if cmd[:1] == ["sleep"]:
                pre = int(float(cmd[1]) * 1000)
            sleep_action = (((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds")
            if sleep_action:
                pre = int(sleep_action) * 1000
            if command == "caisse-gateway":
                # Kubernetes removes a terminating pod from the Service while it still runs:
                # the gateway must go on serving (unready) meanwhile, by its own delay or a pause.
                delay = int(env.get("CAISSE_SHUTDOWN_DELAY_MS") or 0)
                need(delay > 0 or pre > 0, f"{cn}: set CAISSE_SHUTDOWN_DELAY_MS (or a preStop pause) so "
                                           "the Service stops routing before the listeners close")
                need(delay < grace, f"{cn}: CAISSE_SHUTDOWN_DELAY_MS {delay} must be shorter than "
                                    f"CAISSE_SHUTDOWN_GRACE_MS {grace} (the gateway refuses to start)")
            tgps = pod.get("terminationGracePeriodSeconds", 30)
            need(tgps * 1000 >= pre + grace + MARGIN_MS,
                 f"{cn}: terminationGracePeriodSeconds {tgps} s must be at least preStop {pre} ms + "
                 f"CAISSE_SHUTDOWN_GRACE_MS {grace} ms + {MARGIN_MS} ms")
            if command in CONSUMERS:
                need(w["kind"] == "StatefulSet", f"{cn}: a Kafka consumer runs as a StatefulSet (stable static membership ids)")
                need(field_refs.get("CAISSE_INSTANCE_ID") == "metadata.name",
                     f"{cn}: CAISSE_INSTANCE_ID must come from the pod name (fieldRef metadata.name)")
            if command == "caisse-gateway":
                need((w["kind"], w["metadata"]["name"]) in hpa_targets, f"{wn}: no HorizontalPodAutoscaler")
        if caisse and long_running:
            need(any(all(pod_labels[wn].get(k) == v for k, v in (p["spec"]["selector"].get("matchLabels") or {}).items())
                     for p in pdbs), f"{wn}: no PodDisruptionBudget covers it")
        if (w["kind"], w["metadata"]["name"]) in hpa_targets:
            need("replicas" not in w["spec"], f"{wn}: the HorizontalPodAutoscaler owns replicas; drop spec.replicas")
        if w["kind"] == "StatefulSet":
            need(any(s["kind"] == "Service" and s["metadata"]["name"] == w["spec"].get("serviceName")
                     and s["spec"].get("clusterIP") == "None" for s in docs),
                 f"{wn}: its serviceName {w['spec'].get('serviceName')} is not a headless Service of the render")
        if w["kind"] == "Job" and labels(w).get("app.kubernetes.io/component") == "migration":
            cmds = [" ".join(c.get("command") or []) for c in containers]
            need(cmds == ["caisse-admin migrate", "caisse-admin create-topics",
                          "caisse-admin grant-kafka-acls"],
                 f"{wn}: must run caisse-admin migrate, then create-topics and grant-kafka-acls"
                 f" (has {cmds})")
        for c in containers:
            img = c.get("image", "")
            if img.startswith("apache/kafka:"):
                need(img == f"apache/kafka:{args.kafka_version}",
                     f"{wn}: {img}, expected apache/kafka:{args.kafka_version} (CAISSE_KAFKA_VERSION)")

    for h in docs:
        if h["kind"] == "HorizontalPodAutoscaler":
            ref = h["spec"]["scaleTargetRef"]
            need(any(w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"] for w in workloads),
                 f"{name(h)}: its target {ref['kind']} {ref['name']} is not in the render")
            need(ref["name"] not in CONSUMERS, f"{name(h)}: consumers are bounded by partitions, not autoscaled")

    # ---- Services: each reaches pods, by ports they declare; the internal port stays inside.
    for s in (d for d in docs if d["kind"] == "Service"):
        sel = s["spec"].get("selector") or {}
        targets = [w for w in workloads if sel and all(pod_labels.get(name(w), {}).get(k) == v for k, v in sel.items())]
        need(targets, f"{name(s)}: its selector {sel} matches no pod template")
        for p in s["spec"].get("ports") or []:
            tp = p.get("targetPort", p["port"])
            declared = [(cp.get("name"), cp["containerPort"]) for w in targets
                        for c in w["spec"]["template"]["spec"]["containers"] for cp in c.get("ports") or []]
            need(any(tp in pair for pair in declared), f"{name(s)}: targetPort {tp} is no container port of its pods")
            if any(labels(w).get("app.kubernetes.io/name") == "caisse-gateway" for w in targets):
                internal = tp in ("internal", 8081)
                need(not internal or s["spec"].get("type", "ClusterIP") == "ClusterIP",
                     f"{name(s)}: the gateway's internal port must stay ClusterIP")
                need(not internal or s["metadata"]["name"] != "caisse-gateway",
                     f"{name(s)}: the merchant-facing Service must not carry the internal port")
    for s in (d for d in docs if d["kind"] in ("Ingress",)):
        need("internal" not in yaml.safe_dump(s), f"{name(s)}: routes to the internal port")

    # The internal port is closed to everyone but named clients and Prometheus.
    gw_policies = [p for p in docs if p["kind"] == "NetworkPolicy"
                   and (p["spec"]["podSelector"].get("matchLabels") or {}).get("app.kubernetes.io/name") == "caisse-gateway"]
    need(gw_policies, "no NetworkPolicy selects the gateway pods")
    for p in gw_policies:
        for rule in p["spec"].get("ingress") or []:
            ports = [pp.get("port") for pp in rule.get("ports") or []]
            need(ports, f"{name(p)}: an ingress rule without ports opens the internal port too")
            if "internal" in ports or 8081 in ports:
                need(rule.get("from"), f"{name(p)}: the internal port is open to every source")

    # ---- the PrometheusRule: the fields Prometheus needs on every alert -------------
    for r in (d for d in docs if d["kind"] == "PrometheusRule"):
        for g in r["spec"]["groups"]:
            for rule in g["rules"]:
                an = f"{name(r)} alert {rule.get('alert')}"
                need(rule.get("alert") and rule.get("expr"), f"{an}: needs alert and expr")
                need((rule.get("labels") or {}).get("severity") in ("page", "ticket", "info"),
                     f"{an}: labels.severity must be page, ticket or info")
                need((rule.get("annotations") or {}).get("summary"), f"{an}: needs annotations.summary")
                need(rule.get("for") is None or re.fullmatch(r"\d+[smh]", str(rule["for"])),
                     f"{an}: 'for' {rule.get('for')!r} is not a duration")
                expr = str(rule.get("expr"))
                need(expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]")
                     and expr.count("{") == expr.count("}"), f"{an}: unbalanced brackets in expr")

    for p in problems:
        print(f"{args.rendered}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
