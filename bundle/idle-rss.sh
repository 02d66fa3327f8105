#!/usr/bin/env bash
# bundle/idle-rss.sh host EXECUTABLE CACHE   or   bundle/idle-rss.sh uvicorn PYTHON
# Prints the idle resident memory (VmRSS, kB) of one launch: the bundled embedded host
# (`EXECUTABLE run --port 0`, XDG_CACHE_HOME=CACHE for a single file), or plain uvicorn
# running the same service (`PYTHON -m uvicorn main:app` in python/). Idle: GET /health
# answered twice, then two reads 0.5 s apart agree within 1 % (up to 10 s). SIGTERM after.
# Before the launch, the page cache of the files the process maps is dropped
# (bundle/evict_page_cache.py): both read their code as a launch after a reboot does, not
# as a file just copied or unpacked is cached (~1 MB more of the executable mapped).
# Used by make bench-bundle (figures) and make test-bundle (the bound on the difference).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?host or uvicorn}
work=$(mktemp -d /tmp/cagent-idle-rss.XXXXXX)
pid=
# SIGTERM and wait for what was launched; the script's own status is kept.
trap 'status=$?; [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }; rm -rf "$work"; exit $status' EXIT
out=$work/out

evict() { .venv/bin/python bundle/evict_page_cache.py "$@"; }

case $kind in
host)
    executable=${2:?executable} cache=${3:?cache folder}
    # A single file maps the executable it cached and its unpacked payload; a folder, itself.
    if [[ $executable = *.run ]]; then
        files=("$executable")
        [ -d "$cache" ] && files+=("$cache")
    else
        files=("$(dirname "$executable")")
    fi
    evict "${files[@]}"
    env -i CAGENT_TOKEN=idle XDG_CACHE_HOME="$cache" TMPDIR="$work" "$executable" \
        run --port 0 --log-level error >"$out" 2>"$work/err" &
    pid=$!
    until port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$out") && [ -n "$port" ]; do
        kill -0 "$pid" 2>/dev/null || { echo "idle-rss: $executable exited:" >&2; cat "$work/err" >&2; exit 1; }
        sleep 0.01
    done ;;
uvicorn)
    python=${2:?python}
    [[ $python = /* ]] || python=$PWD/$python
    # The venv (its requirements), the interpreter it links to and its standard library.
    evict "$(dirname "$(dirname "$python")")" "$(readlink -f "$python")" \
        "$("$python" -c 'import os, sysconfig; print(os.path.dirname(sysconfig.get_path("stdlib") + "/"))')" python
    port=$((20000 + RANDOM % 20000))
    (cd python && exec env -i CAGENT_TOKEN=idle PATH=/usr/bin:/bin "$python" -m uvicorn main:app \
        --host 127.0.0.1 --port "$port" --log-level error) >"$out" 2>&1 &
    pid=$! ;;
*) echo "idle-rss: host or uvicorn, not $kind" >&2; exit 2 ;;
esac
until curl -s -o /dev/null "http://127.0.0.1:$port/health"; do
    kill -0 "$pid" 2>/dev/null || { echo "idle-rss: $kind exited:" >&2; cat "$out" >&2; exit 1; }
    sleep 0.01
done
curl -s -o /dev/null "http://127.0.0.1:$port/health"

previous=0
for _ in $(seq 20); do
    current=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    if [ "$previous" -gt 0 ] && [ $((current > previous ? current - previous : previous - current)) -le $((previous / 100)) ]; then
        break
    fi
    previous=$current
    sleep 0.5
done
echo "$current"
