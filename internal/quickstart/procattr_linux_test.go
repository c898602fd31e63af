package quickstart

import "syscall"

// procAttr makes the kernel kill a command the test started if the test
// process dies first (a go test timeout), so no hookd dev outlives it.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
