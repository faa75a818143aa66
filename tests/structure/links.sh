#!/usr/bin/env bash
# Every relative link of the project's documents resolves inside this clone: a link to a
# file or folder outside the repository (../shared/... once) is dead in any other clone.
# Web links (http, https, mailto) and anchors within a page are not checked here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$(pwd -P)
fail=0
for doc in README.md ARCHITECTURE.md deploy/OPERATIONS.md; do
  [ -f "$doc" ] || continue
  dir=$(dirname "$doc")
  # Markdown link targets: ](target) or ](target#anchor)
  while IFS= read -r target; do
    case $target in
      http://* | https://* | mailto:* | '#'*) continue ;;
    esac
    path=${target%%#*}
    [ -n "$path" ] || continue
    resolved=$(cd "$dir" && realpath -m "$path")
    case $resolved in
      "$root" | "$root"/*) ;;
      *) echo "links: $doc links to $target, outside the repository" >&2; fail=1; continue ;;
    esac
    [ -e "$resolved" ] || { echo "links: $doc links to $target, which does not exist" >&2; fail=1; }
  done < <(grep -o '\](\([^)]*\))' "$doc" | sed 's/^](//; s/)$//')
  # Paths in backticks that leave the repository ("../shared/...").
  if grep -n '`\.\./' "$doc" >&2; then
    echo "links: $doc names a path outside the repository (above)" >&2
    fail=1
  fi
done
[ "$fail" -eq 0 ] && echo "links: ok (README.md, ARCHITECTURE.md, deploy/OPERATIONS.md)"
exit "$fail"
