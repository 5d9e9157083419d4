#!/usr/bin/env bash
# bench.sh - `make bench`: the C floor and handoff's equivalents, interleaved, several repetitions; prints
# medians and the ratios handoff is held to (docs: BENCHMARKS.md). Results go under /tmp; the table is
# printed (Markdown) so that it can be pasted into BENCHMARKS.md with the machine it ran on.
#
#   bash benchmarks/bench.sh [--repetitions R] [--seconds T]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repetitions=3
seconds=1.0
while (($#)); do
    case $1 in
        --repetitions) repetitions=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
out=/tmp/handoff-bench
rm -rf "$out" && mkdir -p "$out"
swift build -c release >/dev/null
handoff=.build/release/handoff

for round in $(seq 1 "$repetitions"); do
    echo "round $round/$repetitions: floor" >&2
    bash benchmarks/run-floor.sh --no-stress-ng --seconds "$seconds" --repetitions 1 \
        --out "$out/floor-$round.json" >/dev/null 2>&1
    echo "round $round/$repetitions: handoff loops and steps" >&2
    "$handoff" run benchmarks/scenarios --report "$out/handoff-$round" >/dev/null
    echo "round $round/$repetitions: handoff conformance suite at --jobs 2" >&2
    start=$(date +%s.%N)
    "$handoff" run scenarios --jobs 2 --report "$out/suite-$round" >/dev/null
    end=$(date +%s.%N)
    echo "$start $end" > "$out/suite-$round/wall"
done
if command -v stress-ng >/dev/null 2>&1; then
    echo "stress-ng --sockfd" >&2
    stress-ng --sockfd 1 --timeout 5s --metrics-brief 2>&1 | tee "$out/stress-ng.txt" >/dev/null || true
fi
echo "handoff stress (RSS over time)" >&2
"$handoff" stress scenarios --duration "${BENCH_STRESS_SECONDS:-20}s" --jobs 2 --seed 1 --report "$out/stress" >/dev/null || true

python3 - "$out" "$repetitions" <<'PY'
import json, statistics, sys, os, re, platform
out, rounds = sys.argv[1], int(sys.argv[2])
def median(values): return statistics.median(values) if values else float("nan")
floor = {}
handoff_loops, exec_ready, forks, ten, suite_wall, per_scenario, per_step = {}, [], [], [], [], [], []
big_alone, big_pair, big_size = [], [], 0
half_alone, half_pair = [], []
for r in range(1, rounds + 1):
    f = json.load(open(f"{out}/floor-{r}.json"))
    for name, test in f["tests"].items(): floor.setdefault(name, []).append(test["us_per_op"])
    report = json.load(open(f"{out}/handoff-{r}/report.json"))
    for s in report["scenarios"]:
        for loop in s.get("loops") or []:
            wall = max(loop["wallNanoseconds"].values()) / loop["iterations"] / 1000
            handoff_loops.setdefault(s["name"], []).append(wall)
        for step in s["steps"]:
            if step["operation"].endswith(".exec"): exec_ready.append(step["roundTripNanoseconds"] / 1e6)
            if step["operation"].endswith(".fork") and step.get("syscallNanoseconds"): forks.append(step["syscallNanoseconds"] / 1000)
        if s["name"] == "ten-steps": ten.append(s["durationSeconds"] * 1000)
        if s["name"] in ("big-table", "big-table-half"):
            # Steps over main's 8,000-descriptor table alone, then (after the fork) steps changing one of two;
            # the same at 4,000 (big-table-half), to show the cost growing linearly with the table.
            alone, pair = (big_alone, big_pair) if s["name"] == "big-table" else (half_alone, half_pair)
            forked = False
            for step in s["steps"]:
                if step["operation"] == "main.fork": forked = True
                elif forked: pair.append(step["observationNanoseconds"] / 1e6)
                elif step["operation"] in ("main.pipe", "main.write"): alone.append(step["observationNanoseconds"] / 1e6)
    suite = json.load(open(f"{out}/suite-{r}/report.json"))
    start, end = map(float, open(f"{out}/suite-{r}/wall").read().split())
    suite_wall.append(end - start)
    n = len(suite["scenarios"]); steps = sum(len(s["steps"]) for s in suite["scenarios"])
    per_scenario.append(sum(s["durationSeconds"] for s in suite["scenarios"]) / n * 1000)
    per_step.append(sum(s["durationSeconds"] for s in suite["scenarios"]) / max(steps, 1) * 1000)
rows = []
def ratio_row(label, floor_name, handoff_name, target):
    c, h = median(floor.get(floor_name, [])), median(handoff_loops.get(handoff_name, []))
    ratio = c / h if h else float("nan")
    rows.append((label, f"{c:.2f} µs", f"{h:.2f} µs", f"{ratio:.2f}x", target, "met" if ratio >= float(target.strip(">= x")) else "MISSED"))
ratio_row("SCM_RIGHTS in one process (send+recv+close)", "scm-one-process", "scm-one-process", ">= 0.9x")
ratio_row("SCM_RIGHTS one way across two processes", "scm-one-way", "scm-one-way", ">= 0.8x")
ratio_row("SCM_RIGHTS round trip, stream", "scm-round-trip-stream", "scm-round-trip[type=stream]", ">= 0.8x")
ratio_row("SCM_RIGHTS round trip, seqpacket", "scm-round-trip-seqpacket", "scm-round-trip[type=seqpacket]", ">= 0.8x")
print("| measure | C floor | handoff | ratio (C/handoff) | target | |")
print("|---|---|---|---|---|---|")
for row in rows: print("| " + " | ".join(row) + " |")
cfork, afork = median(floor.get("fork-exit-wait", [])), median(forks)
print(f"| fork of an agent (in-agent fork syscall) vs C fork+_exit+waitpid | {cfork:.0f} µs | {afork:.0f} µs | {cfork/afork:.2f}x | >= 0.5x | {'met' if cfork/afork >= 0.5 else 'MISSED'} |")
e = median(exec_ready)
print(f"| agent exec to ready (exec step round trip), median | - | {e:.2f} ms | - | <= 2 ms | {'met' if e <= 2 else 'MISSED'} |")
t = median(ten)
print(f"| 10-step 3-process scenario incl. observation | - | {t:.1f} ms | - | <= 8 ms | {'met' if t <= 8 else 'MISSED'} |")
if big_pair and "fdinfo" in floor and "kcmp" in floor:
    # The floor of reading one table: N x (open+read+close of fdinfo, and one kcmp), in C (readlink not counted).
    table_floor = 8004 * (median(floor["fdinfo"]) + median(floor["kcmp"])) / 1000
    print(f"| observation of a step over an 8,000-descriptor table: alone / one of two changed (big-table) | {table_floor:.1f} ms (N x (fdinfo + kcmp)) | {median(big_alone):.1f} / {median(big_pair):.1f} ms | {table_floor/median(big_pair):.2f}x | linear, only what changed | |")
if big_pair and half_pair:
    # Linear: the cost per descriptor stays the same when the table doubles (1.00x; quadratic would be 2x).
    per = lambda ms, n: ms * 1e6 / n
    growth = per(median(big_pair), 8004) / per(median(half_pair), 4004)
    print(f"| observation per descriptor, 4,004 vs 8,004 descriptors, one of two changed (big-table-half, big-table) | - | {per(median(half_pair), 4004):.0f} / {per(median(big_pair), 8004):.0f} ns | {growth:.2f}x (8,004 / 4,004) | linear: about 1x (quadratic: 2x) | {'met' if growth <= 1.3 else 'MISSED'} |")
print(f"| whole conformance suite, --jobs 2 (wall) | - | {median(suite_wall):.2f} s | - | a few seconds | |")
print(f"| cost per scenario / per step (suite, median) | - | {median(per_scenario):.1f} ms / {median(per_step):.2f} ms | - | | |")
try:
    text = open(f"{out}/stress-ng.txt").read()
    m = re.search(r"sockfd\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+([\d.]+)", text)
    if m:
        rate = float(m.group(3))
        ours = 1e6 / median(handoff_loops.get("scm-one-way", [float("nan")]))
        print(f"| one-way transfers/s vs stress-ng --sockfd (bogo-ops/s, real time) | {rate:,.0f} | {ours:,.0f} | {ours/rate:.2f}x (handoff/stress-ng) | >= 1.5x | {'met' if ours/rate >= 1.5 else 'MISSED'} |")
except FileNotFoundError:
    print("| stress-ng --sockfd | not installed | | | >= 1.5x | skipped |")
try:
    stress = json.load(open(f"{out}/stress/stress.json"))
    rss = [s["runnerResidentKiB"] for s in stress["samples"]]
    print(f"| runner RSS over a {stress['durationSeconds']:.0f} s stress run (start / max / end) | - | {rss[0]/1024:.0f} / {max(rss)/1024:.0f} / {rss[-1]/1024:.0f} MB | - | <= 64 MB, flat | {'met' if max(rss) <= 64*1024 else 'MISSED'} |")
except FileNotFoundError:
    pass
print()
print(f"Machine: {platform.node()}, kernel {platform.release()}, {os.cpu_count()} CPUs; {rounds} interleaved rounds, medians.")
PY

# Agent start-up, exec to hello, for every agent that is built (`make agents`), next to a C program that says
# hello at once: the implementations' cost per process (issue: the C agent at most 1 ms).
agents=(.build/release/handoff-agent)
for candidate in agents/c/build/handoff-agent-c agents/python/handoff-agent-py agents/go/build/handoff-agent-go; do
    [ -x "$candidate" ] && agents+=("$candidate")
done
if command -v cc >/dev/null 2>&1 && [ -f agents/c/Makefile ]; then
    echo
    echo "Agent start-up, exec to hello (${STARTUP_RUNS:-300} spawns each, interleaved):"
    echo
    echo '```'
    RUNS=${STARTUP_RUNS:-300} sh agents/c/bench-startup.sh "${agents[@]}"
    echo '```'
fi
