//go:build unix && !linux

package gateway

import "syscall"

// haveRawIO is false: rawRead and rawWrite are the runtime's own calls,
// used only by writeNow, and fastIO leaves sockets as they are.
const haveRawIO = false

func rawRead(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

func rawWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
