"""Checks the Dockerfile against the facts of this build.

usage: image.py DOCKERFILE FACTS_JSON REPO_DIR

FACTS_JSON (made by deploy/docker/check-image.sh from the Makefile, pkg-config, the built
binaries' ELF headers and dpkg) holds:
  build_packages    the -dev packages that provide the Makefile's pkg-config modules
  runtime_packages  the packages that provide every shared library a binary needs
  base_packages     packages the base image already has (libc6)
  binaries          the binaries the Makefile builds (caisse-gateway, ...)
  source_dirs       the folders they are built from (common, gateway, ...)
REPO_DIR is where COPY sources are looked up. Prints one line per problem and exits 1 if there is any.
"""
import json
import os
import re
import shlex
import sys


def logical_lines(text):
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not cur and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        out.append(cur.strip())
        cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out


def stages(lines):
    result = []
    for line in lines:
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            parts = rest.split()
            result.append({"base": parts[0], "name": parts[2] if len(parts) > 2 else None,
                           "instructions": []})
        elif result:
            result[-1]["instructions"].append((word.upper(), rest.strip()))
    return result


def apt_packages(stage):
    """Every package named after 'apt-get install' in the stage's RUN instructions."""
    pkgs = []
    for word, rest in stage["instructions"]:
        if word != "RUN":
            continue
        for command in re.split(r"&&|;|\|\|", rest):
            tokens = shlex.split(command)
            if len(tokens) >= 2 and tokens[0] == "apt-get" and "install" in tokens:
                after = tokens[tokens.index("install") + 1:]
                pkgs += [t for t in after if not t.startswith("-")]
    return pkgs


def main():
    dockerfile, facts_file, repo = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(dockerfile) as f:
        text = f.read()
    with open(facts_file) as f:
        facts = json.load(f)
    problems = []
    st = stages(logical_lines(text))
    if len(st) < 2:
        print(f"{dockerfile}: expected a multi-stage build, found {len(st)} stage(s)")
        return 1
    build, final = st[0], st[-1]

    if build["base"] != "debian:bookworm":
        problems.append(f"build stage is FROM {build['base']}, expected debian:bookworm")
    if final["base"] != "debian:bookworm-slim":
        problems.append(f"final stage is FROM {final['base']}, expected debian:bookworm-slim")

    build_pkgs = set(apt_packages(build))
    for p in sorted(set(facts["build_packages"]) | {"build-essential", "pkg-config"}):
        if p not in build_pkgs:
            problems.append(f"build stage does not install {p} (needed by the Makefile)")

    final_pkgs = apt_packages(final)
    for p in sorted(set(facts["runtime_packages"]) - set(facts["base_packages"])):
        if p not in final_pkgs:
            problems.append(f"final stage does not install {p}, which a binary links against")
    if "ca-certificates" not in final_pkgs:
        problems.append("final stage does not install ca-certificates (TLS to webhooks, Kafka)")
    for p in final_pkgs:
        if p.endswith("-dev") or p in ("build-essential", "gcc", "make", "pkg-config", "curl"):
            problems.append(f"final stage installs {p}: only runtime libraries belong there")
    unneeded = set(final_pkgs) - set(facts["runtime_packages"]) - {"ca-certificates"}
    for p in sorted(unneeded):
        problems.append(f"final stage installs {p}, which no binary links against")

    users = [rest for word, rest in final["instructions"] if word == "USER"]
    if not users:
        problems.append("final stage has no USER: it would run as root")
    else:
        m = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
        if not m:
            problems.append(f"USER {users[-1]}: use a numeric uid:gid so runAsNonRoot can be verified")
        elif int(m.group(1)) == 0 or (m.group(2) is not None and int(m.group(2)) == 0):
            problems.append(f"USER {users[-1]} is root")

    copied_src = set()
    for word, rest in build["instructions"]:
        if word == "COPY":
            parts = rest.split()
            copied_src.update(p.rstrip("/") for p in parts[:-1])
    for d in facts["source_dirs"] + ["Makefile"]:
        if d not in copied_src:
            problems.append(f"build stage does not COPY {d}")

    copied_bins, copied_files = set(), []
    for word, rest in final["instructions"]:
        if word != "COPY":
            continue
        parts = rest.split()
        if parts and parts[0].startswith("--from="):
            copied_bins.update(os.path.basename(p) for p in parts[1:-1])
        else:
            copied_files += [p for p in parts[:-1] if not p.startswith("--")]
    for b in facts["binaries"]:
        if b not in copied_bins:
            problems.append(f"final stage does not copy {b}")
    for src in copied_files:
        path = os.path.join(repo, src)
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            problems.append(f"final stage copies {src}, which is not an executable file")

    for p in problems:
        print(f"{dockerfile}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
