#!/bin/bash
# caisse-http-probe PORT [PATH] [TIMEOUT_S]
#
# Exits 0 if GET http://127.0.0.1:PORT/PATH (default /readyz) answers with a 2xx status
# within TIMEOUT_S seconds (default 3), 1 otherwise. The image's health check: bash's
# /dev/tcp instead of curl keeps a network client out of the runtime image.
set -u
port=${1:?usage: caisse-http-probe PORT [PATH] [TIMEOUT_S]}
path=${2:-/readyz}
limit=${3:-3}
case $port in '' | *[!0-9]*) echo "caisse-http-probe: bad port '$port'" >&2; exit 2 ;; esac
# shellcheck disable=SC2016 # the inner script expands its own arguments
exec timeout "$limit" bash -c '
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
  IFS=" " read -r _ status _ <&3 || exit 1
  case $status in 2[0-9][0-9]) exit 0 ;; *) exit 1 ;; esac
' caisse-http-probe "$port" "$path" 2>/dev/null
