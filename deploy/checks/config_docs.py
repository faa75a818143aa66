"""Keeps the configuration reference of deploy/OPERATIONS.md true to the binaries.

usage: config_docs.py GUIDE --help-dir DIR [--set-by FILE]... [--rules RENDERED_YAML]...

DIR holds one file per binary, named after it (caisse-gateway, ...), with its --help output.
Each --set-by FILE lists CAISSE_* names that a manifest or the compose file sets, one a line
(the first word of a line is the source, the second the name).

Checks, for every variable a binary's --help prints: the guide's reference table has a row
for it, that row's "read by" names the binary, and its default cell shows the default the
binary prints (`value`, *(empty)* or *(required)*). Conversely every binary a row names must
print that variable, except the names in PENDING. Every name in a --set-by file must be in
the guide's reference or scripts table. Every PrometheusRule in a --rules file uses only
metrics of the guide's metrics table, and its alerts are exactly those of the guide's alerts
table. Prints one line per problem; exit 1 if any.
"""
import argparse
import os
import re
import sys

import yaml

HELP_LINE = re.compile(r'^  (CAISSE_[A-Z0-9_]+)\s+\S+(?: \S+)?, (?:default "(.*)"|required)$')
# Names documented ahead of the binaries that read them. Remove a name from here once
# every binary its row names prints it.
PENDING = set()


def tables(text, section):
    """Rows of the markdown tables in '## <section>', as (header, [cells...]) pairs."""
    m = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        return []
    rows, header = [], None
    for line in m.group(1).splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set(line.replace("|", "").strip()) <= set("-: "):
            rows.append((tuple(header), cells))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("guide")
    ap.add_argument("--help-dir", required=True)
    ap.add_argument("--set-by", action="append", default=[])
    ap.add_argument("--rules", action="append", default=[])
    args = ap.parse_args()
    with open(args.guide) as f:
        text = f.read()
    problems = []
    reference, scripts = {}, set()
    for header, cells in tables(text, "Configuration reference"):
        names = re.findall(r"`(CAISSE_[A-Z0-9_]+|POSTGRES_PASSWORD)`", cells[0])
        if header[:2] == ("variable", "read by"):
            if len(names) != 1:
                problems.append(f"reference row {cells[0]!r}: one variable per row")
                continue
            if names[0] in reference:
                problems.append(f"{names[0]}: two rows in the reference")
            reference[names[0]] = {"read_by": {b.strip() for b in cells[1].split(",")}, "default": cells[2]}
        elif header[:2] == ("variable", "used by"):
            scripts.update(names)
    if not reference:
        problems.append("no '| variable | read by |' table under '## Configuration reference'")

    printed = {}  # variable -> {binary short name: default or None (required)}
    for fname in sorted(os.listdir(args.help_dir)):
        short = fname[len("caisse-"):] if fname.startswith("caisse-") else fname
        with open(os.path.join(args.help_dir, fname)) as f:
            found = 0
            for line in f:
                m = HELP_LINE.match(line.rstrip("\n"))
                if m:
                    found += 1
                    printed.setdefault(m.group(1), {})[short] = m.group(2)
        if not found:
            problems.append(f"{fname} --help printed no variables (is it a caisse binary?)")

    for var, by in sorted(printed.items()):
        row = reference.get(var)
        if row is None:
            problems.append(f"{var} (printed by {', '.join(sorted(by))}) is not in the guide's reference")
            continue
        for binary, default in sorted(by.items()):
            if binary not in row["read_by"]:
                problems.append(f"{var}: read by {binary}, but its row says {', '.join(sorted(row['read_by']))}")
            want = "*(required)*" if default is None else "*(empty)*" if default == "" else f"`{default}`"
            if want not in row["default"]:
                problems.append(f"{var}: {binary}'s default is {want}, the row says {row['default']}")
    for var, row in sorted(reference.items()):
        for binary in sorted(row["read_by"]):
            if binary not in printed.get(var, {}) and var not in PENDING:
                problems.append(f"{var}: the guide says {binary} reads it, but caisse-{binary} --help does not print it")
    pending_seen = sorted(v for v in PENDING if v in reference and
                          not reference[v]["read_by"] <= set(printed.get(v, {})))
    if pending_seen:
        print(f"note: documented ahead of the binaries (PENDING): {', '.join(pending_seen)}")

    for path in args.set_by:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[1] not in reference and parts[1] not in scripts:
                    problems.append(f"{parts[1]} is set by {parts[0]} but not documented in the guide")

    # The metrics and alerts of the PrometheusRule are the guide's.
    metrics, alerts = set(), set()
    for header, cells in tables(text, "Metrics and alerts"):
        if header[0] == "metric":
            metrics.update(re.findall(r"`(caisse_[a-z0-9_]+)", cells[0]))
        elif header[0] == "alert":
            alerts.update(re.findall(r"`(Caisse[A-Za-z0-9]+)`", cells[0]))
    if args.rules and not (metrics and alerts):
        problems.append("no metric and alert tables under '## Metrics and alerts'")
    for path in args.rules:
        with open(path) as f:
            rules = [r for d in yaml.safe_load_all(f) if d and d["kind"] == "PrometheusRule"
                     for g in d["spec"]["groups"] for r in g["rules"]]
        if not rules:
            continue
        named = {r.get("alert") for r in rules}
        for a in sorted(named - alerts):
            problems.append(f"alert {a} of {path} is not in the guide's alerts table")
        for a in sorted(alerts - named):
            problems.append(f"alert {a} of the guide is not in the PrometheusRule of {path}")
        for r in rules:
            for m in re.findall(r"\b(caisse_[a-z0-9_]+)", str(r.get("expr"))):
                base = re.sub(r"_(bucket|sum|count)$", "", m)
                if m not in metrics and base not in metrics:
                    problems.append(f"alert {r.get('alert')} uses {m}, which the guide's metrics table does not list")

    for p in problems:
        print(f"{args.guide}: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
