#!/usr/bin/env bash
# make bundle-profile: rewrites bundle/hot-functions.txt, the functions of the executable
# that a start and an idle service run, which bundle/build.sh links first.
#
# The bundled host, with its symbol table, runs under valgrind's callgrind (every
# instruction run, not a sample) as the single file's later launches run it (payload
# found in the .run file and checked against its unpacked cache; a folder's launch runs
# the same but for that check): a start, GET /health, an execute and a run streamed over
# SSE, then 30 s idle (health probes and the watchdog), then SIGTERM. Under valgrind that
# takes a few minutes. Refresh it when `make bundle` says that few of the listed functions
# are found.
#
# Environment: BUNDLE_SCRATCH (default .build-bundle), BUNDLE_DIST (default dist),
# BUNDLE_PYTHON (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD
scratch=${BUNDLE_SCRATCH:-.build-bundle}
dist=${BUNDLE_DIST:-dist}
unstripped=$scratch/release/cagent-sidecar
link_map=$scratch/cagent-sidecar.map
python=${BUNDLE_PYTHON:-.venv/bin/python}
for needed in "$dist/cagent-sidecar/cagent-sidecar" "$dist/cagent-sidecar.run" "$unstripped" "$link_map"; do
    [ -f "$needed" ] || { echo "bundle-profile: $needed is missing; run make bundle" >&2; exit 1; }
done
[ -x "$python" ] || { echo "bundle-profile: $python is missing; run make setup" >&2; exit 1; }
if ! command -v valgrind >/dev/null; then
    echo "bundle-profile: installing valgrind with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
fi
command -v curl >/dev/null || { echo "bundle-profile: needs curl" >&2; exit 1; }

work=$(mktemp -d /tmp/cagent-bundle-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a "$dist/cagent-sidecar" "$work/folder"
# Function names kept, debug info dropped (valgrind 3.19 cannot read lld's DWARF 5).
strip --strip-debug -o "$work/folder/cagent-sidecar" "$unstripped"
host=$work/folder/cagent-sidecar
# The single file's cache, made by a first launch; the host then finds its payload
# through CAGENT_SINGLE_FILE, as the loader tells it.
cp "$dist/cagent-sidecar.run" "$work/single.run"
env -i XDG_CACHE_HOME="$work/cache" "$work/single.run" --help >/dev/null

echo "bundle-profile: starting the host under callgrind (a few minutes)"
# Generous supervision timeouts: everything runs ~50x slower under valgrind.
env -i CAGENT_TOKEN=profile TMPDIR="$work" XDG_CACHE_HOME="$work/cache" CAGENT_SINGLE_FILE="$work/single.run" valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
    --dump-instr=yes --compress-strings=no --compress-pos=no --demangle=no "$host" run --port 0 --log-level error \
    --start-timeout 900 --stall-threshold 120 --health-timeout 60 --wedge-timeout 300 \
    >"$work/out" 2>"$work/err" &
pid=$!
SECONDS=0
until grep -q "listening on" "$work/out"; do
    kill -0 "$pid" 2>/dev/null || { echo "bundle-profile: the host exited:" >&2; tail -20 "$work/err" >&2; exit 1; }
    [ "$SECONDS" -lt 900 ] || { echo "bundle-profile: no 'listening on' after 900 s" >&2; kill "$pid"; exit 1; }
    sleep 1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/out" | head -1)
echo "bundle-profile: listening after ${SECONDS} s at $url; requests, then 30 s idle"
auth=(-H "Authorization: Bearer profile" -H "content-type: application/json")
for _ in 1 2 3; do curl -sf -o /dev/null "$url/health"; done
curl -sf -o /dev/null "${auth[@]}" -X POST "$url/agent/execute" -d '{"agent_id":"echo","input":{"text":"hi"}}'
run=$(curl -sf "${auth[@]}" -X POST "$url/agent/runs" -d '{"agent_id":"echo","input":{"text":"hi"}}')
request_id=$(echo "$run" | sed -n 's/.*"request_id":"\([^"]*\)".*/\1/p')
curl -sf -o /dev/null -N "${auth[@]}" "$url/agent/stream/$request_id"
sleep 30
kill -TERM "$pid"
wait "$pid" || true
[ -s "$work/callgrind.out" ] || { echo "bundle-profile: callgrind wrote no profile" >&2; tail -20 "$work/err" >&2; exit 1; }

# The names lld should place first: the functions around the instructions that ran (by
# the unstripped executable's symbols: the same addresses), less names whose other
# copies would pull large cold sections forward (bundle/hot_functions.py says why).
list=bundle/hot-functions.txt
"$python" bundle/hot_functions.py "$work/callgrind.out" "$unstripped" "$link_map" >"$work/list"
count=$(grep -vc '^#' "$work/list" || true)
[ "$count" -gt 1000 ] || { echo "bundle-profile: only $count functions profiled; has $unstripped its symbol table?" >&2; exit 1; }
mv "$work/list" "$project/$list"
echo "bundle-profile: $list: $count functions ($(sed -n 's/.*; \([0-9]*\) names defined more than once.*/\1/p' "$list") left out); run make bundle to link with it"
