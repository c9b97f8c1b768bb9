//go:build unix && !linux

package testpg

import "syscall"

// setDeathSignal does nothing: only Linux can signal a child when its
// parent dies, so elsewhere a killed test binary leaves its server running.
func setDeathSignal(attr *syscall.SysProcAttr) {}
