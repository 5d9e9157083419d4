//go:build restorecloexec

package main

// restoreCloexec is true in the diagnostic build handoff-agent-go-restore-cloexec (README.md): the
// ForkExec'd child sets close-on-exec again on the descriptors that had it in the parent, which no Go
// library does. It exists to show what else, beyond the close-on-exec finding, differs between
// ForkExec and fork(2) in the scenarios that stop at that first finding.
const restoreCloexec = true
