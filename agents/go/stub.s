// Empty: lets main.go declare runtimeArgs without a body (go:linkname to os.runtime_args).
