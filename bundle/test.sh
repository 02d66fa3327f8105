#!/usr/bin/env bash
# make test-bundle: dist/cagent-sidecar/ and dist/cagent-sidecar.run, run where no
# Python can be found. In a private mount namespace (unshare -m; needs root), the
# machine's Python installations (/usr/lib/python3*, /usr/bin/python3*, libpython3*.so,
# /usr/local, ~/.pyenv) and the whole project folder (.venv, python/, the build trees)
# are hidden under empty read-only tmpfs mounts or /dev/null; every launch is `env -i`
# (plus PYTHONHOME/PYTHONPATH pointing at the machine's Python, which must be ignored)
# from a fresh empty folder. Each launch serves the whole API: /health, /agents (401
# without the token), /agent/execute, an SSE run, and a probe agent that checks every
# sys.path entry and every loaded module's file is inside the bundle.
#
# Scenarios: idle RSS against plain uvicorn (outside the namespace); the sizes; the
# folder; the folder moved after its first launch; the single file's first and later
# launches (timed); two concurrent first launches; a truncated cache; a first launch
# killed mid-unpack; a read-only empty cache (private temporary folder, removed at exit);
# a read-only populated cache (reused); the single file renamed and moved (same cache).
set -euo pipefail

if [ "${1:-}" != --inside ]; then
    cd "$(dirname "$0")/.."
    project=$PWD
    dist=${BUNDLE_DIST:-dist}
    for output in "$dist/cagent-sidecar/cagent-sidecar" "$dist/cagent-sidecar.run"; do
        [ -x "$output" ] || { echo "test-bundle: $output is missing; run make bundle" >&2; exit 1; }
    done
    if ! unshare -m --propagation private true 2>/dev/null; then
        echo "test-bundle: needs a private mount namespace (unshare -m, as root) to hide the machine's Python" >&2
        exit 1
    fi
    command -v curl >/dev/null || { echo "test-bundle: needs curl" >&2; exit 1; }
    work=$(mktemp -d /tmp/cagent-bundle-test.XXXXXX)
    trap 'if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "test-bundle: kept $work"; fi' EXIT
    cp -a "$dist/cagent-sidecar" "$work/folder"
    cp "$dist/cagent-sidecar.run" "$work/single.run"
    cp -a bundle/probe_agents "$work/agents"
    cp bundle/test.sh "$work/test.sh"   # the project folder is hidden inside
    started=$SECONDS
    # Issue 13's promise on memory, outside the namespace (plain uvicorn needs the venv):
    # the bundled host idle within 10 MB of plain uvicorn running the same service
    # (measured ~+7.5 MB, the goal +8; docs/shipping.md). Median of three launches each.
    median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
    host_kb=(); plain_kb=()
    for _ in 1 2 3; do
        host_kb+=("$(bundle/idle-rss.sh host "$work/folder/cagent-sidecar" "$work/rss-cache")")
        plain_kb+=("$(bundle/idle-rss.sh uvicorn .venv/bin/python)")
    done
    extra_kb=$(($(median3 "${host_kb[@]}") - $(median3 "${plain_kb[@]}")))
    echo "test-bundle: idle RSS: bundled host $(median3 "${host_kb[@]}") kB, plain uvicorn $(median3 "${plain_kb[@]}") kB: +$extra_kb kB"
    if [ "$extra_kb" -gt $((10 * 1024)) ]; then
        echo "test-bundle: FAIL: the bundled host idles at more than plain uvicorn + 10 MB" >&2
        exit 1
    fi
    unshare -m --propagation private bash "$work/test.sh" --inside "$work" "$project"
    echo "test-bundle: all passed in $((SECONDS - started)) s"
    exit 0
fi

work=$2
project=$3
TOKEN=bundle-test-token
failures=0
pids=()

say() { echo "test-bundle: $*"; }
fail() { say "FAIL: $*"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then say "  ok: $what"; else fail "$what"; fi
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ----------------------------------------------------------------- hide every Python
hide_dir() { [ -d "$1" ] && mount -t tmpfs -o ro,size=4k,mode=0555 cagent-hidden "$1"; return 0; }
hide_file() { [ -e "$1" ] && mount --bind /dev/null "$1"; return 0; }
for folder in /usr/lib/python3* /usr/local/lib/python3* /usr/include/python3* /root/.pyenv /opt/python* "$project"; do
    hide_dir "$folder"
done
for file in /usr/bin/python* /usr/local/bin/python* /bin/python* /usr/lib/*-linux-gnu/libpython3* /usr/lib/libpython3*; do
    hide_file "$file"
done
say "hidden: /usr/lib/python3*, /usr/local/lib/python3*, ~/.pyenv, /usr/bin/python*, libpython3*.so, $project"
no_python() {
    for candidate in python3 python3.11 python /usr/bin/python3 /usr/bin/python3.11; do
        if env -i PATH=/usr/local/bin:/usr/bin:/bin "$candidate" -c pass >/dev/null 2>&1; then
            say "$candidate still runs"; return 1
        fi
    done
    [ ! -e /usr/lib/python3.11/os.py ] && [ ! -e "$project/.venv" ] && [ ! -e "$project/python/main.py" ]
}
check "no Python, .venv or python/ to be found" no_python

# Issue 13's promises on size (MB of 10^6 bytes): no bigger than a PyInstaller onefile of
# the same service (24 MB), the folder at most 60 MB (docs/shipping.md has the figures).
bytes_of() { du -sb --apparent-size "$1" | cut -f1; }
check "the single file is at most 24 MB ($(bytes_of "$work/single.run") bytes)" test "$(bytes_of "$work/single.run")" -le 24000000
check "the folder is at most 60 MB ($(bytes_of "$work/folder") bytes)" test "$(bytes_of "$work/folder")" -le 60000000

# ----------------------------------------------------------------- helpers
# launch NAME EXECUTABLE CACHE [VAR=VALUE...]: env -i, from a fresh empty folder, with
# run_args (e.g. --mode subprocess) after `run`.
run_args=()
launch() {
    local name=$1 executable=$2 cache=$3; shift 3
    mkdir -p "$work/cwd-$name" "$work/tmp"
    (cd "$work/cwd-$name" && exec env -i CAGENT_TOKEN=$TOKEN CAGENT_AGENTS_DIR="$work/agents" \
        XDG_CACHE_HOME="$cache" TMPDIR="$work/tmp" CAGENT_LOG_LEVEL=warning \
        PYTHONHOME=/usr PYTHONPATH="$project/python:/usr/lib/python3/dist-packages" PYTHONNOUSERSITE= \
        "$@" "$executable" run --port 0 --log-level warning "${run_args[@]}" \
        >"$work/$name.out" 2>"$work/$name.err") &
    eval "pid_$name=$!"
    pids+=($!)
}
# wait_listening NAME: sets port_NAME; fails after 60 s.
wait_listening() {
    local name=$1 line
    for _ in $(seq 600); do
        line=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/$name.out" 2>/dev/null || true)
        if [ -n "$line" ]; then eval "port_$name=${line##*:}"; return 0; fi
        local pid_var=pid_$name
        if ! kill -0 "${!pid_var}" 2>/dev/null; then break; fi
        sleep 0.1
    done
    fail "$name did not start listening; stderr:"; sed 's/^/    /' "$work/$name.err" | tail -30
    return 1
}
stop() {
    local name=$1 pid_var=pid_$1 status=0
    kill -TERM "${!pid_var}" 2>/dev/null || true
    wait "${!pid_var}" || status=$?
    check "$name stops with status 0 on SIGTERM (got $status)" test "$status" = 0
}
get() { curl -sS --max-time 20 "$@"; }

# api NAME ROOT: the whole API, and the probe's verdict for bundle root ROOT.
api() {
    local name=$1 root=$2 port_var=port_$1 base body id
    base="http://127.0.0.1:${!port_var}"
    local auth=(-H "Authorization: Bearer $TOKEN")
    check "$name: GET /health" grep -q '"status":"ok"' <(get "$base/health")
    check "$name: GET /agents without the token is 401" test "$(get -o /dev/null -w '%{http_code}' "$base/agents")" = 401
    body=$(get "${auth[@]}" "$base/agents")
    check "$name: GET /agents lists echo, chat and probe" \
        bash -c '[[ $0 == *"\"id\":\"echo\""* && $0 == *"\"id\":\"chat\""* && $0 == *"\"id\":\"probe\""* ]]' "$body"
    body=$(get "${auth[@]}" -H 'Content-Type: application/json' \
        -d '{"agent_id":"echo","input":{"hello":"bundle"}}' "$base/agent/execute")
    check "$name: POST /agent/execute (echo)" grep -q '"result":{"hello":"bundle"}' <<<"$body"
    body=$(get "${auth[@]}" -H 'Content-Type: application/json' \
        -d '{"agent_id":"echo","input":{"streamed":true}}' "$base/agent/runs")
    id=$(sed -n 's/.*"request_id":"\([^"]*\)".*/\1/p' <<<"$body")
    body=$(get -N "$base/agent/stream/$id?token=$TOKEN")
    check "$name: SSE run ends with its result event" \
        bash -c '[[ $0 == *"event: result"* && $0 == *"streamed"* ]]' "$body"
    body=$(get "${auth[@]}" -H 'Content-Type: application/json' \
        -d "{\"agent_id\":\"probe\",\"input\":{\"root\":\"$root\"}}" "$base/agent/execute")
    if grep -q '"ok":true' <<<"$body"; then
        say "  ok: $name: every sys.path entry and loaded module is inside $root"
        case $name in folder|first) sed -n 's/.*"sys_path":\(\[[^]]*\]\).*/    sys.path = \1/p' <<<"$body" ;; esac
    else
        fail "$name: the probe found things outside the bundle: $body"
    fi
}

# quiet STDERR_FILE: the host said nothing of its own (no unpacking, no warning).
quiet() { ! grep "^cagent-sidecar:" "$1"; }
elapsed_since() { echo "$(( $(now_ms) - $1 )) ms"; }
cache_entries() { ls -A "$1/cagent-sidecar" 2>/dev/null | tr '\n' ' '; }

# ----------------------------------------------------------------- the folder
say "the folder, from $work/folder"
t=$(now_ms); launch folder "$work/folder/cagent-sidecar" "$work/unused-cache"
wait_listening folder && { say "  folder ready in $(elapsed_since "$t")"; api folder "$work/folder"; }
stop folder
check "the folder wrote no cache" test ! -e "$work/unused-cache"

say "the folder, moved after its first launch"
mkdir -p "$work/elsewhere"
mv "$work/folder" "$work/elsewhere/renamed-bundle"
launch moved "$work/elsewhere/renamed-bundle/cagent-sidecar" "$work/unused-cache"
wait_listening moved && api moved "$work/elsewhere/renamed-bundle"
stop moved

say "the folder, moved, in subprocess mode (the host runs itself as python)"
run_args=(--mode subprocess)
launch subprocess "$work/elsewhere/renamed-bundle/cagent-sidecar" "$work/unused-cache"
if wait_listening subprocess; then
    api subprocess "$work/elsewhere/renamed-bundle"
    child=$(pgrep -P "$pid_subprocess" | head -1)
    check "subprocess: the service runs in a child: the host itself, as python -m uvicorn" \
        grep -q "cagent-sidecar.python.-m.uvicorn.main:app" <(tr '\0' ' ' <"/proc/$child/cmdline" 2>/dev/null)
fi
stop subprocess
run_args=()

# ----------------------------------------------------------------- the single file
cache=$work/cache
say "the single file, first launch (empty cache)"
t=$(now_ms); launch first "$work/single.run" "$cache"
wait_listening first && { first_ms=$(( $(now_ms) - t )); say "  first launch ready in $first_ms ms"; }
check "the first launch says it unpacked" grep -q "unpacked the bundled runtime into $cache/cagent-sidecar/" "$work/first.err"
hash=$(ls "$cache/cagent-sidecar")
api first "$cache/cagent-sidecar/$hash"
stop first

later=()
for n in 1 2 3; do
    t=$(now_ms); launch "later$n" "$work/single.run" "$cache"
    wait_listening "later$n" && later+=($(( $(now_ms) - t )))
    [ "$n" = 1 ] && api later1 "$cache/cagent-sidecar/$hash"
    stop "later$n"
    check "later launch $n reuses the cache silently" quiet "$work/later$n.err"
done
say "  later launches ready in ${later[*]} ms (first: ${first_ms:-?} ms)"

say "the single file, renamed and moved: same content, same cache"
mkdir -p "$work/other"
cp "$work/single.run" "$work/other/agent-host"
launch renamed "$work/other/agent-host" "$cache"
wait_listening renamed && api renamed "$cache/cagent-sidecar/$hash"
stop renamed
check "renamed: the cache was reused" quiet "$work/renamed.err"
check "renamed: still one folder in the cache" test "$(cache_entries "$cache")" = "$hash "
check "one cached executable ($(ls -A "$cache/cagent-sidecar-bin" | tr '\n' ' '))" \
    test "$(ls -A "$cache/cagent-sidecar-bin" | wc -l)" = 1

say "the single file in subprocess mode (the cached executable runs itself as python; its payload named by CAGENT_SINGLE_FILE)"
run_args=(--mode subprocess)
launch onefilesub "$work/single.run" "$cache"
wait_listening onefilesub && api onefilesub "$cache/cagent-sidecar/$hash"
stop onefilesub
run_args=()
check "single file, subprocess mode: the cache was reused" quiet "$work/onefilesub.err"

say "a truncated cached executable"
exe_cached=$(ls -d "$cache/cagent-sidecar-bin"/* | head -1)
exe_size=$(stat -c %s "$exe_cached")
truncate -s 100 "$exe_cached"
launch exetruncated "$work/single.run" "$cache"
wait_listening exetruncated && api exetruncated "$cache/cagent-sidecar/$hash"
stop exetruncated
check "truncated executable: the launch said it was damaged" grep -q "the cached executable .* was damaged (100 bytes" "$work/exetruncated.err"
check "truncated executable: whole again" test "$(stat -c %s "$exe_cached")" = "$exe_size"

say "two concurrent first launches"
launch concurrent1 "$work/single.run" "$work/cache2"
launch concurrent2 "$work/single.run" "$work/cache2"
wait_listening concurrent1 && api concurrent1 "$work/cache2/cagent-sidecar/$hash"
wait_listening concurrent2 && api concurrent2 "$work/cache2/cagent-sidecar/$hash"
stop concurrent1
stop concurrent2
check "concurrent: the executable was cached (a missing cache folder is created)" \
    bash -c '! grep -q "running it from memory" "$0" "$1"' "$work/concurrent1.err" "$work/concurrent2.err"
check "concurrent: one cached executable" test "$(ls -A "$work/cache2/cagent-sidecar-bin" | wc -l)" = 1
check "concurrent: one folder in the cache, no leftovers ($(cache_entries "$work/cache2"))" \
    test "$(cache_entries "$work/cache2")" = "$hash "
say "  $(grep -h "^cagent-sidecar:" "$work/concurrent1.err" "$work/concurrent2.err" | tr '\n' ' ')"

say "a truncated cache"
victim="$cache/cagent-sidecar/$hash/runtime/lib/stdlib.zip"
size=$(stat -c %s "$victim")
truncate -s 100 "$victim"
launch truncated "$work/single.run" "$cache"
wait_listening truncated && api truncated "$cache/cagent-sidecar/$hash"
stop truncated
check "truncated: the launch said the cache was damaged" grep -q "was damaged (runtime/lib/stdlib.zip has 100 bytes" "$work/truncated.err"
check "truncated: stdlib.zip is whole again" test "$(stat -c %s "$victim")" = "$size"
check "truncated: one folder in the cache, no leftovers" test "$(cache_entries "$cache")" = "$hash "

say "a first launch killed mid-unpack, then launched again"
launch killed "$work/single.run" "$work/cache3"
# Killed once its unpack folder (.unpack-*, OnefileBundle) appears, not after a guessed
# time; then checked: the folder is partial (no .cagent-payload marker) and nothing was
# renamed into place, so the next launch has a real leftover to clear.
unpacking="$work/cache3/cagent-sidecar"
for _ in $(seq 6000); do
    compgen -G "$unpacking/.unpack-*" >/dev/null || [ -e "$unpacking/$hash" ] || ! kill -0 "$pid_killed" 2>/dev/null && break
    sleep 0.01
done
kill -KILL "$pid_killed"; wait "$pid_killed" 2>/dev/null || true
say "  left after the kill: $(cache_entries "$work/cache3")"
partial=$(compgen -G "$unpacking/.unpack-*" | head -1 || true)
check "the kill landed mid-unpack: a partial unpack folder, no marker, nothing in place" \
    bash -c '[ -n "$0" ] && [ ! -e "$0/.cagent-payload" ] && [ ! -e "$1" ]' "$partial" "$unpacking/$hash"
launch afterkill "$work/single.run" "$work/cache3"
wait_listening afterkill && api afterkill "$work/cache3/cagent-sidecar/$hash"
stop afterkill
check "after the kill: one folder in the cache, leftovers removed" test "$(cache_entries "$work/cache3")" = "$hash "

say "a single file whose executable is damaged, and one cut short"
# A byte flipped 100 000 bytes in: past the ~15 KB loader, inside the zstd-compressed
# executable (6.8 MB), whose frame checksum the loader checks when unpacking.
cp "$work/single.run" "$work/damaged.run"
byte=$(od -An -tu1 -j 100000 -N1 "$work/damaged.run" | tr -d ' ')
printf "$(printf '\\%03o' $(( byte ^ 255 )))" | dd of="$work/damaged.run" bs=1 seek=100000 conv=notrunc status=none
set +e
env -i XDG_CACHE_HOME="$work/cache-damaged" "$work/damaged.run" --help >/dev/null 2>"$work/damaged.err"; status=$?
head -c $(( $(stat -c %s "$work/single.run") - 1000 )) "$work/single.run" >"$work/short.run"; chmod 755 "$work/short.run"
env -i XDG_CACHE_HOME="$work/cache-short" "$work/short.run" --help >/dev/null 2>"$work/short.err"; short_status=$?
set -e
check "damaged executable: refused (status $status) as damaged ($(cat "$work/damaged.err"))" \
    bash -c '[ "$0" != 0 ] && grep -q "the bundled executable is damaged" "$1"' "$status" "$work/damaged.err"
check "damaged executable: nothing cached" bash -c '[ -z "$(ls -A "$0" 2>/dev/null)" ]' "$work/cache-damaged/cagent-sidecar-bin"
check "cut short: refused (status $short_status) as damaged ($(cat "$work/short.err"))" \
    bash -c '[ "$0" != 0 ] && grep -q "damaged" "$1"' "$short_status" "$work/short.err"

say "a read-only, empty cache folder"
mkdir -p "$work/ro-empty"
mount --bind "$work/ro-empty" "$work/ro-empty" && mount -o remount,bind,ro "$work/ro-empty"
launch roempty "$work/single.run" "$work/ro-empty"
wait_listening roempty && {
    temporary=$(ls -d "$work/tmp"/cagent-sidecar-unpacked-* 2>/dev/null | head -1)
    api roempty "${temporary:-$work/tmp/none}"
}
stop roempty
check "read-only: the launch warned and used a private temporary folder" \
    grep -q "warning: cannot use the cache $work/ro-empty/cagent-sidecar .*private temporary folder" "$work/roempty.err"
check "read-only: the executable ran from memory, with a warning" \
    grep -q "warning: cannot cache the executable in $work/ro-empty/cagent-sidecar-bin .*running it from memory" "$work/roempty.err"
check "read-only: the temporary folder is removed at exit" \
    bash -c '! ls -d "$0"/cagent-sidecar-unpacked-* >/dev/null 2>&1' "$work/tmp"

say "a read-only cache folder that holds the unpacked payload"
mount --bind "$cache" "$cache" && mount -o remount,bind,ro "$cache"
launch ropopulated "$work/single.run" "$cache"
wait_listening ropopulated && api ropopulated "$cache/cagent-sidecar/$hash"
stop ropopulated
check "read-only populated: reused without a warning" quiet "$work/ropopulated.err"

for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
if [ "$failures" != 0 ]; then
    say "$failures check(s) failed (KEEP=1 keeps $work)"
    exit 1
fi
say "launch times (to 'listening on', /health answered): folder moved ~ folder; single file first ${first_ms:-?} ms, later ${later[*]} ms"
