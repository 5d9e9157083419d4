#!/usr/bin/env bash
# loop-cpu.sh - the one-process SCM_RIGHTS loop (send+recv+close) in CPU time: the C floor
# (`floor --count N scm-one-process`) against the Swift agent's own loop (`handoff-agent --bench-loop N`: the
# same runLoop a `repeat` runs, without a runner), alternated, each process's user+system time as wait4()
# reports it. On a machine shared with other work, CPU time moves far less than wall time (a process that
# waits for a CPU is not charged), so this is the ratio to watch while changing the loop; `make bench` gives
# the wall-time ratio the project is held to (BENCHMARKS.md).
#
#   bash benchmarks/loop-cpu.sh [--rounds R] [--iterations N] [AGENT]   (defaults 7, 300000,
#                                                                        .build/release/handoff-agent)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=7
iterations=300000
agent=.build/release/handoff-agent
while (($#)); do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --iterations) iterations=$2; shift 2 ;;
        -*) echo "loop-cpu.sh: unknown option $1" >&2; exit 2 ;;
        *) agent=$1; shift ;;
    esac
done
build=${FLOOR_BUILD_DIR:-/tmp/handoff-floor}
[ -x "$build/floor" ] || bash benchmarks/run-floor.sh --no-stress-ng --seconds 0.1 --repetitions 1 scm-one-process >/dev/null
[ -x "$agent" ] || { echo "loop-cpu.sh: no agent at $agent (swift build -c release)" >&2; exit 2; }
python3 - "$build/floor" "$agent" "$rounds" "$iterations" <<'PY'
import os, statistics, subprocess, sys
floor, agent, rounds, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def cpu_ns_per_iteration(argv):
    """(user, system) nanoseconds per iteration, as wait4() reports the process's CPU time."""
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0: sys.exit(f"loop-cpu.sh: {argv[0]} failed ({status})")
    return usage.ru_utime * 1e9 / n, usage.ru_stime * 1e9 / n
c, swift = [], []
for _ in range(rounds):
    c.append(cpu_ns_per_iteration([floor, "--count", str(n), "scm-one-process"]))
    swift.append(cpu_ns_per_iteration([agent, "--bench-loop", str(n)]))
def show(name, runs):
    total = [u + s for u, s in runs]
    print(f"{name} {statistics.median(total):.0f} ns/iteration (CPU), {min(total):.0f}..{max(total):.0f}; "
          f"user {statistics.median(u for u, _ in runs):.0f}, system {statistics.median(s for _, s in runs):.0f}")
    return statistics.median(total)
mc, ms = show("C floor:", c), show("agent:  ", swift)
print(f"ratio (C/agent, medians of {rounds} alternated rounds of {n:,} iterations): {mc / ms:.3f}x")
# User time is each program's own work around the same three system calls (the system time is the kernel's,
# the same calls in both): the part of the gap the agent can do something about.
print(f"agent's own work beyond the C floor's: {statistics.median(u for u, _ in swift) - statistics.median(u for u, _ in c):+.0f} ns/iteration (user time)")
PY
