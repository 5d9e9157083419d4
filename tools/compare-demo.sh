#!/usr/bin/env bash
# The comparison demo: the whole suite on this host, then again under a seccomp filter that denies kcmp and
# pidfd_getfd (as Docker's default profile does without CAP_SYS_PTRACE), and `handoff compare` of the two.
#
# Under the filter handoff must decide identity with the flag probe (kcmp denied) and skip the scenarios
# that require pidfd_getfd (the runner probes it, and the runner is under the filter too) - not fail them.
#
# Writes reports/host, reports/seccomp and reports/compare (comparison.md/.json/.html).
# Exit status: 1 when the comparison has a regression, 0 otherwise.
# Environment: SKIP_BUILD=1 uses the existing .build/release/handoff; DENY overrides the denied calls.
set -uo pipefail
cd "$(dirname "$0")/.."

deny="${DENY:-kcmp,pidfd_getfd}"

cc -O2 -Wall -Wextra -o tools/seccomp-deny tools/seccomp-deny.c || exit 2
if [ -z "${SKIP_BUILD:-}" ]; then
    swift build -c release || exit 2
fi
handoff=.build/release/handoff

echo "== host"
"$handoff" run scenarios --report reports/host
host_status=$?
echo "== seccomp (denied: $deny)"
tools/seccomp-deny "$deny" -- "$handoff" run scenarios --report reports/seccomp
seccomp_status=$?
echo "== compare (run exit statuses: host $host_status, seccomp $seccomp_status)"
# A run's status 1 (a red scenario) is what the comparison is for; 2 or more means it could not run.
if [ "$host_status" -ge 2 ] || [ "$seccomp_status" -ge 2 ]; then
    echo "compare-demo: a run failed to complete" >&2
    exit 2
fi
"$handoff" compare reports/host/report.json reports/seccomp/report.json --label host --label seccomp \
    --report reports/compare --fail-on regression
