"""Asserts what docker-compose.yml must keep true, on `docker-compose config` output.

usage: compose.py CONFIG_YAML KAFKA_VERSION

CONFIG_YAML is the normalized file (`docker-compose config`: anchors merged, variables
interpolated with their defaults). KAFKA_VERSION is CAISSE_KAFKA_VERSION of deploy/env.sh.
Prints one line per problem; exit status 1 if there is any.
"""
import base64
import re
import sys

import yaml

DEFAULT_GRACE_MS = 20000  # CAISSE_SHUTDOWN_GRACE_MS's default in every binary
MARGIN_MS = 5000  # what stopping needs beyond the grace: Kafka flush, exit
CONSUMERS = ("session-worker", "webhook-worker")


def duration_ms(text):
    """Compose durations: 30s, 1m30s, 500ms, 1h."""
    total, pos = 0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text)):
        if m.start() != pos:
            return None
        pos = m.end()
        n = float(m.group(1))
        total += n * {"h": 3600000, "m": 60000, "s": 1000, "ms": 1, "us": 0.001}[m.group(2)]
    return total if pos == len(str(text)) and pos > 0 else None


def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def published_targets(svc):
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append(int(p["target"]))
        else:
            out.append(int(str(p).split(":")[-1].split("/")[0]))
    return out


def main():
    with open(sys.argv[1]) as f:
        cfg = yaml.safe_load(f)
    kafka_version = sys.argv[2]
    services = cfg.get("services") or {}
    problems = []

    def need(cond, msg):
        if not cond:
            problems.append(msg)

    caisse = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("caisse:")}
    long_running = {n for n, s in caisse.items() if str(s.get("restart", "no")) != "no"}
    for name in ("gateway", "session-worker", "expiry-worker", "webhook-worker"):
        need(name in long_running, f"service {name}: missing, or not a restarting caisse service")
    for name in ("setup", "seed"):
        need(name in caisse and name not in long_running, f"service {name}: missing, or restarts")
    need(len({s["image"] for s in caisse.values()}) == 1, "caisse services use different images")
    builders = [n for n, s in caisse.items() if "build" in s]
    need(len(builders) == 1, f"exactly one service should build the image, found {builders}")

    setup_cmd = " ".join(caisse.get("setup", {}).get("command") or [])
    need("caisse-admin migrate" in setup_cmd and "caisse-admin create-topics" in setup_cmd,
         "setup must run caisse-admin migrate and caisse-admin create-topics")
    setup_deps = caisse.get("setup", {}).get("depends_on") or {}
    for dep in ("postgres", "kafka"):
        need((setup_deps.get(dep) or {}).get("condition") == "service_healthy",
             f"setup must wait for {dep} to be healthy")
    seed_deps = caisse.get("seed", {}).get("depends_on") or {}
    need(any((d or {}).get("condition") in ("service_healthy", "service_completed_successfully")
             for d in seed_deps.values()), "seed must wait for the stack (a depends_on condition)")

    instance_ids = {}
    for name in sorted(long_running):
        svc, env = caisse[name], env_of(caisse[name])
        where = f"service {name}"
        deps = svc.get("depends_on") or {}
        need((deps.get("setup") or {}).get("condition") == "service_completed_successfully",
             f"{where}: must depend on setup with condition service_completed_successfully")
        for dep, d in deps.items():
            need(isinstance(d, dict) and d.get("condition"), f"{where}: depends_on {dep} has no condition")
        # Health: the probe must target the port this service serves /readyz on.
        port = env.get("CAISSE_GATEWAY_INTERNAL_PORT", "8081") if name == "gateway" else env.get("CAISSE_OPS_PORT")
        need(port, f"{where}: no health port (CAISSE_OPS_PORT) set")
        test = (svc.get("healthcheck") or {}).get("test") or []
        need(test[:2] == ["CMD", "caisse-http-probe"] and len(test) >= 4 and test[2] == port
             and test[3] == "/readyz",
             f"{where}: healthcheck must be [CMD, caisse-http-probe, {port}, /readyz], is {test}")
        # Stopping: compose must wait longer than the service's own grace.
        grace = int(env.get("CAISSE_SHUTDOWN_GRACE_MS", DEFAULT_GRACE_MS))
        stop = duration_ms(svc.get("stop_grace_period", "10s"))
        need(stop is not None and stop >= grace + MARGIN_MS,
             f"{where}: stop_grace_period {svc.get('stop_grace_period', '10s (default)')} must be at "
             f"least CAISSE_SHUTDOWN_GRACE_MS {grace} ms + {MARGIN_MS} ms")
        # Hardening, as on Kubernetes.
        need(svc.get("read_only") is True, f"{where}: read_only must be true")
        need("ALL" in (svc.get("cap_drop") or []), f"{where}: cap_drop must include ALL")
        need("no-new-privileges:true" in (svc.get("security_opt") or []),
             f"{where}: security_opt must include no-new-privileges:true")
        if name in CONSUMERS:
            iid = env.get("CAISSE_INSTANCE_ID", "")
            need(iid, f"{where}: CAISSE_INSTANCE_ID must be set (static group membership)")
            need(iid not in instance_ids, f"{where}: CAISSE_INSTANCE_ID {iid} also used by {instance_ids.get(iid)}")
            instance_ids[iid] = name
        need(svc.get("deploy", {}).get("replicas", 1) == 1 or name not in CONSUMERS,
             f"{where}: replicas would share one CAISSE_INSTANCE_ID")

    # Only the merchant API is published.
    for name, svc in services.items():
        targets = published_targets(svc)
        if name == "gateway":
            port = int(env_of(svc).get("CAISSE_GATEWAY_PORT", "8080"))
            need(targets == [port], f"service gateway must publish only its merchant port {port}, publishes {targets}")
        else:
            need(not targets, f"service {name} publishes {targets}: only the gateway's merchant API is published")

    kafka = services.get("kafka") or {}
    image = str(kafka.get("image", ""))
    need(image == f"apache/kafka:{kafka_version}",
         f"kafka image is {image}, expected apache/kafka:{kafka_version} (CAISSE_KAFKA_VERSION)")
    kenv = env_of(kafka)
    need(kenv.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false", "kafka: auto-create must be off")
    need("broker" in kenv.get("KAFKA_PROCESS_ROLES", "") and "controller" in kenv.get("KAFKA_PROCESS_ROLES", ""),
         "kafka: KRaft combined mode (KAFKA_PROCESS_ROLES broker,controller) expected")
    try:
        cid = kenv.get("CLUSTER_ID", "")
        ok = len(cid) == 22 and len(base64.urlsafe_b64decode(cid + "==")) == 16
    except ValueError:
        ok = False
    need(ok, f"kafka: CLUSTER_ID {kenv.get('CLUSTER_ID')!r} is not a 16-byte URL-safe base64 id")
    log_dirs = kenv.get("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")
    mounts = [str(v).split(":")[1] if isinstance(v, str) else v.get("target") for v in kafka.get("volumes") or []]
    need(any(log_dirs == m or log_dirs.startswith(m.rstrip("/") + "/") for m in mounts if m),
         f"kafka: KAFKA_LOG_DIRS {log_dirs} is not on a volume ({mounts})")
    pg_mounts = [str(v).split(":")[1] if isinstance(v, str) else v.get("target") for v in services.get("postgres", {}).get("volumes") or []]
    need("/var/lib/postgresql/data" in pg_mounts, "postgres: /var/lib/postgresql/data is not on a volume")

    for p in problems:
        print(f"docker-compose.yml: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
