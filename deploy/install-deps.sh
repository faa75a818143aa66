#!/usr/bin/env bash
# Installs the Debian packages the project needs to build, test and run its local stack.
# Idempotent and quiet: it asks dpkg what is already there and runs apt only for what is
# missing, so on a prepared machine (or a second CI run) it costs well under a second.
# Machines are handed over fresh at times, so nothing may rely on a hand-installed package.
set -euo pipefail

# Root in CI and on the project machines; sudo elsewhere.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi

packages=(
  # C toolchain and formatting
  build-essential pkg-config clang clang-format
  # libraries of the services (headers + .so)
  libpq-dev librdkafka-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev
  # ICU (CLDR data): the hosted checkout page's amounts and dates; gettext's msgfmt checks
  # its catalogues (gateway/page/*.po) in make unit
  libicu-dev gettext
  # unit tests; clang's sanitizer and libFuzzer runtimes for make fuzz (tests/fuzz/), the
  # ones of Debian's default clang
  libcriterion-dev libclang-rt-dev
  # local stack: a throwaway PostgreSQL cluster, Kafka client CLI (also the broker readiness
  # probe), Maven to fetch the Kafka broker jars from Maven Central
  postgresql postgresql-client kcat maven
  # tools used by scripts and tests (ps for process checks, wrk for load tests, jq in the
  # README's quick start, docker-compose to validate docker-compose.yml offline)
  curl ca-certificates procps wrk jq docker-compose
  # make compose-check / k8s-check: their checks are Python scripts run by Debian's python3
  # with PyYAML (deploy/checks/); the Kubernetes tools themselves come from the Go module
  # proxy and PyPI through deploy/k8s/tools.sh (Go >= 1.24 must be on the machine).
  # python3-venv: tests/schemathesis/run.sh installs its pinned packages into a venv.
  python3 python3-yaml python3-venv
  # make browser (tests/browser/): the hosted checkout page in Debian's chromium, which the
  # npm playwright-core drives by its path (no browser download); a font for its screenshots
  chromium fonts-dejavu-core
)

# The broker needs Java 17+. Keep any suitable JVM already on the machine.
java_major() {
  # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (or "1.8.0_x") on stderr.
  java -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\)\(\.\([0-9]*\)\)\{0,1\}.*/\1 \3/p' | head -n1 |
    awk '{ print ($1 == 1 ? $2 : $1) }'
}
jv=0
if command -v java >/dev/null 2>&1; then
  jv="$(java_major || true)"
fi
case "$jv" in '' | *[!0-9]*) jv=0 ;; esac
if [ "$jv" -lt 17 ]; then
  packages+=(openjdk-17-jre-headless)
fi

# Node is only an independent client in tests (HTTP, and tests/contract/'s validator of the
# Kafka records, whose npm packages tests/contract/run.sh installs); any installed node will
# do. npm alone is missing only beside Debian's nodejs (other node builds bundle it).
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  packages+=(npm)
fi

# deploy/k8s/tools.sh downloads one wheel with pip (any python3's pip; Debian's otherwise).
if ! python3 -m pip --version >/dev/null 2>&1 && ! /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
  packages+=(python3-pip)
fi

missing=()
for p in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  if [ "$status" != "install ok installed" ]; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
log="$(mktemp -t caisse-install-deps.XXXXXX)"
# Output goes to a log that is shown only on failure: apt is very chatty.
if ! {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
} >"$log" 2>&1; then
  echo "install-deps: apt-get failed; last lines of $log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
rm -f "$log"
