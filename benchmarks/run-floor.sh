#!/usr/bin/env bash
# run-floor.sh - builds and runs the C floor benchmark (floor.c, tiny.c), then stress-ng's sockfd stressor
# when it is installed. Nothing is written into the repository: binaries and the JSON go under /tmp.
#
#   bash benchmarks/run-floor.sh [--seconds T] [--repetitions R] [--out PATH] [--json] [--no-stress-ng] [TEST...]
#
#   --seconds T, --repetitions R, TEST...   passed to floor (defaults 1.0 s x 3, every test)
#   --out PATH       where floor's JSON goes (default $FLOOR_BUILD_DIR/floor-latest.json)
#   --json           print the JSON on stdout instead of the table
#   --no-stress-ng   do not run stress-ng even when it is installed
#   FLOOR_BUILD_DIR  build directory (default /tmp/handoff-floor); CC (default cc)
#
# Exit status: floor's (0 unless a build failed, an option was wrong or floor found a leak).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${FLOOR_BUILD_DIR:-/tmp/handoff-floor}
cc=${CC:-cc}
out=
json=0
stress=1
args=()
while (($#)); do
    case $1 in
        --seconds|--repetitions)
            (($# >= 2)) || { echo "run-floor.sh: $1 needs a value" >&2; exit 2; }
            args+=("$1" "$2"); shift 2 ;;
        --out)
            (($# >= 2)) || { echo "run-floor.sh: --out needs a path" >&2; exit 2; }
            out=$2; shift 2 ;;
        --json) json=1; shift ;;
        --no-stress-ng) stress=0; shift ;;
        -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
out=${out:-$build/floor-latest.json}

# Messages go to stderr so that --json leaves a clean JSON document on stdout.
say() { echo "$*" >&2; }

command -v "$cc" >/dev/null || { say "run-floor.sh: no C compiler ($cc); apt-get install gcc"; exit 2; }
mkdir -p "$build" "$(dirname "$out")"
"$cc" -std=c11 -O2 -Wall -Wextra -o "$build/floor" "$here/floor.c"
if "$cc" -std=c11 -O2 -static -o "$build/tiny" "$here/tiny.c" 2>"$build/tiny-static.log"; then
    say "built $build/floor and $build/tiny (static)"
else
    say "tiny: static linking failed ($(head -n1 "$build/tiny-static.log")); built dynamically instead," \
        "so fork-exec includes the dynamic loader and is NOT the static floor"
    "$cc" -std=c11 -O2 -o "$build/tiny" "$here/tiny.c"
fi

say "kernel $(uname -r), nproc $(nproc), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
status=0
if ((json)); then
    "$build/floor" --tiny "$build/tiny" --json "${args[@]}" | tee "$out" || status=$?
else
    "$build/floor" --tiny "$build/tiny" --json-file "$out" "${args[@]}" || status=$?
fi
say "JSON: $out"

if ((stress)); then
    if command -v stress-ng >/dev/null; then
        # stress-ng prints its metrics on stderr: "stress-ng: metrc: [pid] sockfd OPS REAL USR SYS RATE_REAL RATE_CPU".
        log=$build/stress-ng-sockfd.txt
        if stress-ng --sockfd 1 --timeout 5s --metrics-brief >"$log" 2>&1; then
            rate=$(awk '$4 == "sockfd" && $5 ~ /^[0-9]+$/ { print $(NF-1) }' "$log")
            say "stress-ng $(stress-ng --version | awk '{print $3}' | tr -d ,) --sockfd 1 --timeout 5s:" \
                "${rate:-?} bogo-ops/s (real time; one-way, about 7 syscalls per fd; log $log)"
        else
            say "stress-ng --sockfd failed (log $log)"
        fi
    else
        say "stress-ng: not installed (apt-get install stress-ng)"
    fi
fi
exit "$status"
