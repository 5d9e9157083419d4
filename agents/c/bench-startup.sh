#!/bin/sh
# Start-up time of handoff agents, exec to hello, averaged over RUNS spawns (default 200):
#   agents/c/bench-startup.sh [AGENT...]     (default: the C agent and, when built, the Swift agent)
# Prints the floor first (a minimal C program that says hello at once), then one line per agent; the
# agents are spawned in turn, round after round, so that other load on the machine falls on each alike.
set -e
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-200}
make -s -C "$here" build/startup-timer build/handoff-agent-c
timer="$here/build/startup-timer"
if [ $# -eq 0 ]; then
    set -- "$here/build/handoff-agent-c"
    for swift in "$here/../../.build/release/handoff-agent" /work/runner-bin/handoff-agent; do
        if [ -x "$swift" ]; then set -- "$@" "$swift"; break; fi
    done
fi
exec "$timer" "$runs" --stub "$@"
