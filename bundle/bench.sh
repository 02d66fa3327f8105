#!/usr/bin/env bash
# make bench-bundle: in one run, side by side,
#  - sizes: dist/cagent-sidecar.run and the folder dist/cagent-sidecar/;
#  - launch times of the single file, first (empty cache) and later (cache reused),
#    beside the folder (nothing to unpack: what a later launch should cost). A launch is
#    timed from exec to the host's `listening on` line, printed once GET /health answers;
#  - idle resident memory (VmRSS, after GET /health answered and the process settled) of
#    the bundled embedded host (folder and single file) against plain uvicorn running the
#    same service (.venv's python -m uvicorn main:app in python/).
# docs/shipping.md has a run's results.
#
# With PYINSTALLER=/path/to/pyinstaller (or pyinstaller on PATH), the same service is
# also built as a PyInstaller --onefile (uvicorn main:app) and timed to its first
# /health answer: PyInstaller unpacks on every launch.
#
# RUNS (default 5) launches each; medians and all samples are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
project=$PWD
dist=${BUNDLE_DIST:-dist}
runs=${RUNS:-5}
for output in "$dist/cagent-sidecar/cagent-sidecar" "$dist/cagent-sidecar.run"; do
    [ -x "$output" ] || { echo "bench-bundle: $output is missing; run make bundle" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "bench-bundle: needs curl" >&2; exit 1; }
venv_python=${BENCH_PYTHON:-$project/.venv/bin/python}
[ -x "$venv_python" ] || { echo "bench-bundle: $venv_python is missing (plain uvicorn's interpreter); run make setup" >&2; exit 1; }
work=$(mktemp -d /tmp/cagent-bundle-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a "$dist/cagent-sidecar" "$work/folder"
cp "$dist/cagent-sidecar.run" "$work/single.run"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

# launch_ms CACHE EXECUTABLE: ms to `listening on`, then SIGTERM and wait.
launch_ms() {
    local cache=$1 executable=$2 start pid out=$work/out err=$work/err
    : >"$out"
    start=$(now_ms)
    env -i CAGENT_TOKEN=bench XDG_CACHE_HOME="$cache" TMPDIR="$work" "$executable" run --port 0 --log-level error \
        >"$out" 2>"$err" &
    pid=$!
    until grep -q "listening on" "$out"; do
        kill -0 "$pid" 2>/dev/null || { echo "bench-bundle: $executable exited:" >&2; cat "$err" >&2; return 1; }
        sleep 0.01
    done
    echo $(($(now_ms) - start))
    kill -TERM "$pid"; wait "$pid" || true
}

echo "bench-bundle: $runs launches each ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
# Sizes in MB of 10^6 bytes (the files' bytes, not the disk blocks du would count).
size_mb() { du -sb --apparent-size "$1" | awk '{printf "%.1f MB", $1 / 1e6}'; }
printf 'bench-bundle: %-46s %10s\n' \
    "size: single file ($dist/cagent-sidecar.run)" "$(size_mb "$dist/cagent-sidecar.run")" \
    "size: folder ($dist/cagent-sidecar/)" "$(size_mb "$dist/cagent-sidecar")" \
    "  of which the executable" "$(size_mb "$dist/cagent-sidecar/cagent-sidecar")" \
    "  files in the folder" "$(find "$dist/cagent-sidecar" -type f | wc -l)"
first=(); unpack=(); later=(); folder=()
for n in $(seq "$runs"); do
    first+=("$(launch_ms "$work/cache-first-$n" "$work/single.run")")
    unpack+=("$(sed -n 's/.* in \([0-9.]*\) s$/\1/p' "$work/err" | awk '{print int($1 * 1000)}')")
done
# Interleaved, so load from elsewhere hits both alike.
for n in $(seq "$runs"); do
    later+=("$(launch_ms "$work/cache-first-1" "$work/single.run")")
    folder+=("$(launch_ms "$work/no-cache" "$work/folder/cagent-sidecar")")
done
# What finding and checking the cache costs alone: --help exits right after it.
help_ms() {
    local start
    start=$(now_ms)
    env -i XDG_CACHE_HOME="$1" "$2" --help >/dev/null
    echo $(($(now_ms) - start))
}
check=(); plain=()
for n in $(seq "$runs"); do
    check+=("$(help_ms "$work/cache-first-1" "$work/single.run")")
    plain+=("$(help_ms "$work/no-cache" "$work/folder/cagent-sidecar")")
done

printf 'bench-bundle: %-46s median %5s ms   (%s)\n' \
    "single file, first launch (empty cache)" "$(median "${first[@]}")" "${first[*]}" \
    "  of which unpacking ($(du -sh "$work/cache-first-1" | cut -f1) written)" "$(median "${unpack[@]}")" "${unpack[*]}" \
    "single file, later launches (cache reused)" "$(median "${later[@]}")" "${later[*]}" \
    "folder (nothing to unpack)" "$(median "${folder[@]}")" "${folder[*]}" \
    "--help: single file (cache found and checked)" "$(median "${check[@]}")" "${check[*]}" \
    "--help: folder" "$(median "${plain[@]}")" "${plain[*]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf 'bench-bundle: %-46s %9s×\n' \
    "single file, first launch / folder" "$(ratio "$(median "${first[@]}")" "$(median "${folder[@]}")")" \
    "single file, later launch / folder" "$(ratio "$(median "${later[@]}")" "$(median "${folder[@]}")")"

# Idle resident memory (bundle/idle-rss.sh): VmRSS once the service answers GET /health
# and has settled. Printed as kB / 1024; RUNS launches each, interleaved.
rss_folder=(); rss_single=(); rss_uvicorn=()
for n in $(seq "$runs"); do
    rss_folder+=("$(bundle/idle-rss.sh host "$work/folder/cagent-sidecar" "$work/no-cache")")
    rss_single+=("$(bundle/idle-rss.sh host "$work/single.run" "$work/cache-first-1")")
    rss_uvicorn+=("$(bundle/idle-rss.sh uvicorn "$venv_python")")
done
mb() { awk -v kb="$1" 'BEGIN {printf "%.1f", kb / 1024}'; }
mbs() { local out=() v; for v in "$@"; do out+=("$(mb "$v")"); done; echo "${out[*]}"; }
folder_rss=$(median "${rss_folder[@]}"); uvicorn_rss=$(median "${rss_uvicorn[@]}")
printf 'bench-bundle: %-46s median %5s MiB  (%s)\n' \
    "idle RSS: folder, embedded host" "$(mb "$folder_rss")" "$(mbs "${rss_folder[@]}")" \
    "idle RSS: single file, embedded host" "$(mb "$(median "${rss_single[@]}")")" "$(mbs "${rss_single[@]}")" \
    "idle RSS: plain uvicorn (.venv python)" "$(mb "$uvicorn_rss")" "$(mbs "${rss_uvicorn[@]}")"
printf 'bench-bundle: %-46s        %+.1f MiB\n' "idle RSS: folder minus plain uvicorn" "$(awk -v a="$folder_rss" -v b="$uvicorn_rss" 'BEGIN {print (a - b) / 1024}')"

pyinstaller=${PYINSTALLER:-$(command -v pyinstaller || true)}
if [ -z "$pyinstaller" ]; then
    echo "bench-bundle: PyInstaller: not measured (not installed; set PYINSTALLER=/path/to/pyinstaller)"
    exit 0
fi
echo "bench-bundle: building a PyInstaller --onefile of the same service with $pyinstaller ..."
cat >"$work/pyi_entry.py" <<'EOF'
import sys

import uvicorn

import main

uvicorn.run(main.create_app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="error")
EOF
# The service's own modules by name (agents are imported by name at run time).
hidden=()
while IFS= read -r module; do hidden+=(--hidden-import "$module"); done < <(
    cd "$project/python" && find main.py config.py logs.py agents web service tools -name '*.py' \
        | sed -e 's|/__init__\.py$||' -e 's|\.py$||' -e 's|/|.|g' | sort)
(cd "$work" && "$pyinstaller" --onefile --noconfirm --log-level ERROR --name pyi-service \
    --paths "$project/python" "${hidden[@]}" \
    --collect-submodules uvicorn --collect-submodules uvloop \
    --collect-submodules httptools --hidden-import mcp --hidden-import mcp.client.stdio \
    --distpath "$work/pyi-dist" --workpath "$work/pyi-build" --specpath "$work" pyi_entry.py >"$work/pyi.log" 2>&1) \
    || { echo "bench-bundle: PyInstaller build failed:"; tail -20 "$work/pyi.log"; exit 1; }
pyi=()
for n in $(seq "$runs"); do
    port=$((20000 + RANDOM % 20000))
    start=$(now_ms)
    env -i CAGENT_TOKEN=bench TMPDIR="$work" "$work/pyi-dist/pyi-service" "$port" >"$work/pyi.out" 2>&1 &
    pid=$!
    until curl -s -o /dev/null "http://127.0.0.1:$port/health"; do
        kill -0 "$pid" 2>/dev/null || { echo "bench-bundle: the PyInstaller build exited:"; cat "$work/pyi.out"; exit 1; }
        sleep 0.01
    done
    pyi+=($(($(now_ms) - start)))
    kill -TERM "$pid"; wait "$pid" || true
done
printf 'bench-bundle: %-46s median %5s ms   (%s)  %s\n' "PyInstaller --onefile, every launch" \
    "$(median "${pyi[@]}")" "${pyi[*]}" "$(size_mb "$work/pyi-dist/pyi-service")"
