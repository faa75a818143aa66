"""Makes a deliberately broken copy of a YAML file, for the checks' negative tests.

usage: mutate.py IN OUT 'python statements'

The statements run with `docs` (the list of YAML documents of IN; a compose file is docs[0])
and `obj(kind, name)` (the first document of that kind and metadata.name, name optional).
The result is written to OUT. Exit status 3 if the statements changed nothing.
"""
import copy
import sys

import yaml


def main():
    src, dst, code = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(src) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    before = copy.deepcopy(docs)

    def obj(kind, name=None):
        for d in docs:
            if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name):
                return d
        raise SystemExit(f"mutate.py: no {kind} {name or ''} in {src}")

    exec(code, {"docs": docs, "obj": obj})
    with open(dst, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    return 3 if docs == before else 0


if __name__ == "__main__":
    sys.exit(main())
