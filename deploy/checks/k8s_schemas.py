"""Extracts one Kubernetes version's strict JSON schemas from the kubernetes-validate wheel
into the layout kubeconform reads (<dir>/v<version>-standalone-strict/<kind>-<group>-<v>.json).

usage: k8s_schemas.py WHEEL VERSION OUT_DIR

The wheel's schemas refer to their shared definitions as "/api/_definitions.json#/$defs/..."
resolved against an "$id" under https://kubernetes.io/; kubeconform loads schemas from files,
so each file loses its "$id" and the references become relative to its folder. Nothing else
changes (they are JSON Schema 2020-12 with additionalProperties false: "strict").
"""
import json
import os
import shutil
import sys
import zipfile

DEFS = "/api/_definitions.json"


def rewrite(node):
    if isinstance(node, dict):
        if "$schema" in node:  # a file's root: its $id would re-base the references
            node.pop("$id", None)
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(DEFS):
                node[k] = "_definitions.json" + v[len(DEFS):]
            else:
                rewrite(v)
    elif isinstance(node, list):
        for v in node:
            rewrite(v)


def main():
    wheel, version, out = sys.argv[1], sys.argv[2], sys.argv[3]
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    target = os.path.join(out, f"v{version}-standalone-strict")
    staging = target + ".tmp"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    count = 0
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if not name.startswith(prefix) or not name.endswith(".json"):
                continue
            doc = json.loads(z.read(name))
            rewrite(doc)
            with open(os.path.join(staging, name[len(prefix):]), "w") as f:
                json.dump(doc, f)
            count += 1
    if count == 0 or not os.path.exists(os.path.join(staging, "deployment-apps-v1.json")):
        print(f"k8s_schemas.py: no strict schemas for v{version} in {wheel}", file=sys.stderr)
        return 1
    shutil.rmtree(target, ignore_errors=True)
    os.rename(staging, target)
    print(f"k8s_schemas.py: {count} schemas of Kubernetes v{version} in {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
