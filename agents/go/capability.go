// drop_capability without libcap: capget/capset as Go programs do it (Go's standard library has no
// capability API). Capabilities are per thread on Linux and a Go process has several threads, so the new
// sets are applied to every thread with syscall.AllThreadsSyscall (Go 1.16+, the mechanism Go's own
// syscall.Setuid uses and the one libcap's Go package "cap" builds on).
package main

import (
	"strings"
	"syscall"
	"unsafe"
)

// <linux/capability.h>, in capability-number order (cap_from_name's names without "cap_").
var capabilityNames = []string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
	"linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
	"sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
	"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
	"mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
	"checkpoint_restore",
}

// capabilityFromName accepts what libcap's cap_from_name accepts: "CAP_SYS_PTRACE" in any case, or a number.
func capabilityFromName(name string) int {
	lower := strings.ToLower(name)
	if n, ok := atoi(lower); ok {
		return n
	}
	if strings.HasPrefix(lower, "cap_") {
		for i, c := range capabilityNames {
			if c == lower[4:] {
				return i
			}
		}
	}
	return -1
}

type capHeader struct {
	version uint32
	pid     int32
}

type capData struct{ effective, permitted, inheritable uint32 }

const capabilityVersion3 = 0x20080522

func dropCapability(name string, ans *answer) {
	capability := capabilityFromName(name)
	if capability < 0 || capability >= 64 {
		ans.fail(syscall.EINVAL)
		return
	}
	header := capHeader{version: capabilityVersion3}
	var data [2]capData
	if _, _, errno := syscall.Syscall(sysCapget, uintptr(unsafe.Pointer(&header)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		ans.fail(errno)
		return
	}
	word, bit := capability/32, uint32(1)<<(capability%32)
	data[word].effective &^= bit
	data[word].permitted &^= bit
	data[word].inheritable &^= bit
	ans.record(timed(func() (int, error) {
		_, _, errno := syscall.AllThreadsSyscall(sysCapset, uintptr(unsafe.Pointer(&header)), uintptr(unsafe.Pointer(&data[0])), 0)
		if errno != 0 {
			return -1, errno
		}
		return 0, nil
	}), false)
}
