//go:build !restorecloexec

package main

// restoreCloexec is false in handoff-agent-go: fork is what ForkExec does, close-on-exec flags and all.
const restoreCloexec = false
