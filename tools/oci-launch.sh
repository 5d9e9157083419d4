#!/bin/sh
# tools/oci-launch.sh [--wait] RUNTIME PRESERVE AGENT DIR [NAME=VALUE...]
#
# A launcher for scenarios that hold an OCI runtime (runc, crun) to what it hands its container's process:
# builds a bundle in DIR (the scenario's directory), whose process is AGENT, and runs it with
# `RUNTIME create --preserve-fds PRESERVE` and `RUNTIME start` (what `run --detach` does in one go). The
# container's process therefore gets this script's 0-2 (runc passes its caller's stdio only when detached: in
# the foreground it copies through pipes of its own), then 3..3+PRESERVE-1, and nothing else (runc: libcontainer's utils.CloseExecFrom(3+preserve) in runc init;
# crun: the same, in libcrun's container init). With LISTEN_FDS=K in the environment the runtime also passes
# 3..3+K-1 first (sd_listen_fds(3): LISTEN_PID is set here to the runtime's own pid, as a service manager
# would) and tells the container LISTEN_FDS=K and LISTEN_PID=1; the preserved descriptors then follow.
#
# The bundle: an empty read-only rootfs with the host's /usr, /bin, /lib, /lib64, /sbin and /etc bound
# read-only (a dynamically linked agent finds its libraries), AGENT's directory bound read-only at its own
# path, and DIR and the folder of HANDOFF_CONTROL_SOCKET (the runner's) bound read-write at their own
# paths, so that the agent reaches the runner from inside; /proc, a tmpfs /dev and /tmp; pid, mount, ipc, uts and network namespaces (the
# runner finds the agent's pid with SO_PEERCRED). The container's environment is PATH,
# HANDOFF_CONTROL_SOCKET (from this script's environment) and the NAME=VALUE arguments: a runtime passes
# the caller's environment to nobody. Paths must not contain '"' or '\' (they are written into JSON as-is).
#
# crun 1.8 refuses a hybrid cgroup layout: where /sys/fs/cgroup/unified is a mount of its own, crun runs in
# a private mount namespace with it unmounted (as `handoff run --in crun` does).
#
# Not `run --detach`: an agent started by a launcher dies with its parent (PR_SET_PDEATHSIG), and the
# container's process is runc's child until `runc run --detach` exits - which is at once. After `create`
# returns, the process waiting in the runtime's init has already been re-parented, so the agent that
# `start` execs there outlives its runtime.
#
# Then the script stays (exec sleep infinity) until the runner kills everything at the end of the scenario
# (SIGKILL): the container's state goes with DIR, but the empty cgroups the runtime created stay; the next
# launch removes those older than a minute under handoff-oci/ (rmdir fails on a cgroup that still has
# processes). With --wait (the runner's probe for the features oci-runc and oci-crun) it waits until the
# container's process ends instead, deletes the container and exits.
set -eu
wait=no
if [ "${1:-}" = --wait ]; then wait=yes; shift; fi
runtime=$1 preserve=$2 agent=$3 dir=$4
shift 4
bundle="$dir/oci-$runtime-$$"
# Unique on the host: the cgroups a killed container leaves behind keep their names for a minute, and a
# runtime may refuse (crun) or join (runc) one that already exists.
id="handoff-$(basename "$(dirname "$dir")")-$(basename "$dir")-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
mkdir -p "$bundle/rootfs"

for folder in /sys/fs/cgroup/*/handoff-oci /sys/fs/cgroup/handoff-oci; do
    [ -d "$folder" ] && find "$folder" -mindepth 1 -maxdepth 1 -type d -mmin +1 -exec rmdir {} + 2>/dev/null || true
done

environment="\"PATH=/usr/local/bin:/usr/bin:/bin\", \"HANDOFF_CONTROL_SOCKET=${HANDOFF_CONTROL_SOCKET:-}\""
for variable in "$@"; do environment="$environment, \"$variable\""; done
# The runner's mark on the scenario's processes (HANDOFF_SCENARIO), by which its /proc sweep finds them where
# it has no cgroup: a container's process descends from nothing of the scenario's once its runtime exits.
[ -n "${HANDOFF_SCENARIO:-}" ] && environment="$environment, \"HANDOFF_SCENARIO=$HANDOFF_SCENARIO\""
mounts=""
for host in /usr /bin /lib /lib64 /sbin /etc; do
    [ -e "$host" ] || continue
    mounts="$mounts {\"destination\": \"$host\", \"type\": \"bind\", \"source\": \"$host\", \"options\": [\"rbind\", \"ro\"]},"
done
agentdir=$(dirname "$agent")
# The runner's control socket (HANDOFF_CONTROL_SOCKET) lies in the runner's own folder, not in DIR.
if [ -n "${HANDOFF_CONTROL_SOCKET:-}" ]; then
    controldir=$(dirname "$HANDOFF_CONTROL_SOCKET")
    mounts="$mounts {\"destination\": \"$controldir\", \"type\": \"bind\", \"source\": \"$controldir\", \"options\": [\"rbind\", \"rw\"]},"
fi
cat > "$bundle/config.json" <<EOF
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["$agent"],
    "env": [$environment],
    "cwd": "/",
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "handoff",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},$mounts
    {"destination": "$agentdir", "type": "bind", "source": "$agentdir", "options": ["rbind", "ro"]},
    {"destination": "$dir", "type": "bind", "source": "$dir", "options": ["rbind", "rw"]}
  ],
  "linux": {
    "cgroupsPath": "/handoff-oci/$id",
    "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}]
  }
}
EOF

# LISTEN_PID must name the runtime itself (go-systemd's activation.Files and crun check it): a shell that
# exports its own pid and execs the runtime.
start='[ -n "${LISTEN_FDS:-}" ] && export LISTEN_PID=$$; exec "$@"'
case "$runtime" in
crun)
    if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
        start='umount /sys/fs/cgroup/unified; '"$start"
        set -- unshare -m sh -c "$start" sh
    else
        set -- sh -c "$start" sh
    fi ;;
*) set -- sh -c "$start" sh ;;
esac
"$@" "$runtime" --root "$bundle/state" create --pid-file "$bundle/pid" --preserve-fds "$preserve" \
    --bundle "$bundle" "$id"
"$runtime" --root "$bundle/state" start "$id"
if [ "$wait" = yes ]; then
    pid=$(cat "$bundle/pid")
    # Until it ends: gone, or a zombie that whoever adopted it (a child subreaper, such as the runner) has
    # not reaped yet.
    running() {
        state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$pid/stat" 2>/dev/null) || return 1
        [ -n "$state" ] && [ "$state" != Z ]
    }
    while running; do sleep 0.1; done
    "$runtime" --root "$bundle/state" delete --force "$id" >/dev/null 2>&1 || true
    exit 0
fi
# Stay, as the launcher whose children (the scenario's other processes forked before it) die with it
# (PR_SET_PDEATHSIG), and start nothing more: a process forked now could escape the runner's sweep at
# the end of the scenario, which kills everything at once anyway.
exec sleep infinity
