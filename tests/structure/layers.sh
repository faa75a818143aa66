#!/usr/bin/env bash
# The dependency rule of ARCHITECTURE.md, checked on every #include "...":
#
#   common/core   <- common/infra <- common/model <- programs
#
# - a layer includes only its own and lower layers' headers;
# - common/ never includes a program's header;
# - a program (gateway, session-worker, expiry-worker, webhook-worker, admin) never
#   includes another program's files;
# - a module of common/infra or common/model serves at least two programs, or another
#   module of common/: code that one program alone uses lives in that program; a module
#   of common/core (generic, like libusual's) needs one user at least: dead code goes.
# Prints every violation; exits 1 if there is any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PROGRAMS=(gateway session-worker expiry-worker webhook-worker admin)
rank() {
  case $1 in
    core) echo 1 ;;
    infra) echo 2 ;;
    model) echo 3 ;;
    *) echo 9 ;;
  esac
}

fail=0
violation() {
  echo "layers: $*" >&2
  fail=1
}

# Quoted includes of a file, one per line.
includes() { sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"; }

for layer in core infra model; do
  for f in common/"$layer"/*.[ch]; do
    [ -e "$f" ] || continue
    while IFS= read -r inc; do
      case $inc in
        */*)
          dir=${inc%%/*}
          case $dir in
            core | infra | model)
              if [ "$(rank "$dir")" -gt "$(rank "$layer")" ]; then
                violation "$f includes $inc: $layer may not depend on $dir"
              fi
              [ -f "common/$inc" ] || violation "$f includes $inc, which does not exist"
              ;;
            *) violation "$f includes $inc: common/ includes only common/{core,infra,model}" ;;
          esac
          ;;
        *) [ -f "common/$layer/$inc" ] || violation "$f includes \"$inc\", not a header of common/$layer" ;;
      esac
    done < <(includes "$f")
  done
done

for p in "${PROGRAMS[@]}"; do
  for f in "$p"/*.[ch]; do
    [ -e "$f" ] || continue
    while IFS= read -r inc; do
      case $inc in
        core/* | infra/* | model/*) [ -f "common/$inc" ] || violation "$f includes $inc, which does not exist" ;;
        ../*) violation "$f includes $inc: a program includes only its own files and common/" ;;
        */*) violation "$f includes $inc: unknown folder" ;;
        *) [ -f "$p/$inc" ] || violation "$f includes \"$inc\", which is not in $p/" ;;
      esac
    done < <(includes "$f")
  done
done

# Who uses each module of common/.
for h in common/core/*.h common/infra/*.h common/model/*.h; do
  mod=${h#common/}
  users=()
  for p in "${PROGRAMS[@]}"; do
    if grep -qsF "#include \"$mod\"" "$p"/*.[ch]; then users+=("$p"); fi
  done
  others=$(grep -lsF "#include \"$mod\"" common/core/*.[ch] common/infra/*.[ch] common/model/*.[ch] |
    grep -v "^${h%.h}\.[ch]$" || true)
  [ -n "$others" ] && continue
  if [ "${#users[@]}" -eq 0 ]; then
    violation "$mod is used by nothing: delete it"
  elif [ "${#users[@]}" -lt 2 ] && [ "${mod%%/*}" != core ]; then
    violation "$mod is used by ${users[*]} alone: move it into that program"
  fi
done

if [ "$fail" -eq 0 ]; then
  echo "layers: ok (core <- infra <- model <- programs)"
fi
exit "$fail"
