#!/usr/bin/env bash
# Checks the Dockerfile without a container engine (none runs here): its build stage installs
# the -dev packages behind the Makefile's pkg-config modules, its final stage installs exactly
# the packages that provide the shared libraries the built binaries need (from their ELF
# headers, through dpkg) plus CA certificates and nothing to build with, it copies every
# binary the Makefile builds, and it runs as a numeric non-root user. Then it proves the
# check fails on broken Dockerfiles, and that the image's health probe tells 2xx from the rest.
# Needs the binaries built (make all). Ends with "image-check: N passed, M failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY=/usr/bin/python3
BIN=${CAISSE_BIN_DIR:-build/bin}
tmp=$(mktemp -d -t caisse-image-check.XXXXXX)
probe_pid=""
cleanup() {
  [ -z "$probe_pid" ] || kill "$probe_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# ---- facts ------------------------------------------------------------------------
services=$(sed -n 's/^SERVICES *= *//p' Makefile)
[ -n "$services" ] || { echo "check-image: no SERVICES line in the Makefile" >&2; exit 1; }
pkgs=$(sed -n 's/^PKGS *= *//p' Makefile)
binaries=() source_dirs=(common admin)
for s in $services; do binaries+=("caisse-$s"); source_dirs+=("$s"); done
binaries+=(caisse-admin)
for b in "${binaries[@]}"; do
  [ -x "$BIN/$b" ] || { echo "check-image: $BIN/$b is missing: run make first" >&2; exit 1; }
done

owner() { dpkg -S "$1" 2>/dev/null | head -n 1 | cut -d: -f1; }
build_packages=()
for m in $pkgs; do
  pc=$(pkg-config --path "$m") || { echo "check-image: pkg-config knows no $m" >&2; exit 1; }
  p=$(owner "$pc")
  [ -n "$p" ] || { echo "check-image: no package owns $pc" >&2; exit 1; }
  build_packages+=("$p")
done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
runtime_packages=()
for lib in $(for b in "${binaries[@]}"; do readelf -d "$BIN/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; done | sort -u); do
  p=""
  for d in "/usr/lib/$multiarch" "/lib/$multiarch"; do
    p=$(owner "$d/$lib") && [ -n "$p" ] && break
  done
  [ -n "$p" ] || { echo "check-image: no package owns $lib" >&2; exit 1; }
  runtime_packages+=("$p")
done
json_array() { printf '%s\n' "$@" | sort -u | "$PY" -c 'import json,sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()]))'; }
cat >"$tmp/facts.json" <<EOT
{"build_packages": $(json_array "${build_packages[@]}"),
 "runtime_packages": $(json_array "${runtime_packages[@]}"),
 "base_packages": ["libc6"],
 "binaries": $(json_array "${binaries[@]}"),
 "source_dirs": $(json_array "${source_dirs[@]}")}
EOT

# ---- the Dockerfile ---------------------------------------------------------------
if "$PY" deploy/checks/image.py Dockerfile "$tmp/facts.json" .; then
  ok "Dockerfile: stages, packages ($(json_array "${runtime_packages[@]}")), binaries, user"
else
  fail "Dockerfile"
fi

# ---- the build stage's sources suffice ---------------------------------------------
# What the build stage COPYs, alone in an empty folder, must build every binary (at -O0:
# completeness is the question here, not the code the image gets).
mkdir -p "$tmp/context"
sources=$("$PY" -c '
import sys
sys.path.insert(0, "deploy/checks")
import image
build = image.stages(image.logical_lines(open("Dockerfile").read()))[0]
print(" ".join(p for w, rest in build["instructions"] if w == "COPY" for p in rest.split()[:-1]))')
for src in $sources; do cp -r "$src" "$tmp/context/"; done
if make -C "$tmp/context" -j2 OPT=-O0 all >"$tmp/build.log" 2>&1 &&
  missing=$(for b in "${binaries[@]}"; do [ -x "$tmp/context/build/bin/$b" ] || echo "$b"; done) &&
  [ -z "$missing" ]; then
  ok "the build stage's sources ($sources) alone build every binary"
else
  tail -n 20 "$tmp/build.log"
  fail "the build stage's sources do not build every binary ${missing:-}"
fi

# ---- the check rejects broken Dockerfiles -----------------------------------------
expect_rejected() {
  local what=$1 sed_expr=$2 broken=$tmp/Dockerfile
  sed "$sed_expr" Dockerfile >"$broken"
  if cmp -s Dockerfile "$broken"; then
    fail "negative test '$what': the edit changed nothing"
  elif "$PY" deploy/checks/image.py "$broken" "$tmp/facts.json" . >"$tmp/out" 2>&1; then
    fail "negative test '$what': the broken Dockerfile was accepted"
  else
    ok "rejects a Dockerfile with $what: $(head -n 1 "$tmp/out" | sed 's/^[^:]*: //')"
  fi
}
expect_rejected "libpq5 missing from the final stage" 's/ libpq5 / /'
expect_rejected "a -dev package in the final stage" 's/ libpq5 / libpq5 libpq-dev /'
expect_rejected "USER root" 's/^USER 10001:10001/USER root/'
expect_rejected "caisse-admin not copied" 's#/src/build/bin/caisse-admin ##'
expect_rejected "a non-slim final base" 's/^FROM debian:bookworm-slim/FROM debian:bookworm/'
expect_rejected "a service folder not copied" '/^COPY webhook-worker /d'

# ---- the health probe -------------------------------------------------------------
probe=deploy/docker/http-probe.sh
mkdir -p "$tmp/www"
echo ready >"$tmp/www/readyz"
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$PY" -m http.server "$port" --bind 127.0.0.1 --directory "$tmp/www" >/dev/null 2>&1 &
probe_pid=$!
for _ in $(seq 1 50); do
  "$probe" "$port" /readyz 1 && break
  sleep 0.1
done
if "$probe" "$port" /readyz; then ok "http-probe: 200 is healthy"; else fail "http-probe: 200 not healthy"; fi
if "$probe" "$port" /healthz; then fail "http-probe: 404 taken as healthy"; else ok "http-probe: 404 is unhealthy"; fi
kill "$probe_pid" 2>/dev/null; wait "$probe_pid" 2>/dev/null || true; probe_pid=""
if "$probe" "$port" /readyz 1; then fail "http-probe: a closed port taken as healthy"; else ok "http-probe: a closed port is unhealthy"; fi

echo "image-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
