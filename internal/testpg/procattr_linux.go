package testpg

import "syscall"

// setDeathSignal has the kernel send the child SIGQUIT, an immediate
// shutdown for postgres, when the thread that started it dies. The child
// must be started from a thread that lives as long as the test binary
// needs the child; see startProcess.
func setDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGQUIT
}
