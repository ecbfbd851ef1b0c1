//go:build unix && !linux

package gateway

import "syscall"

// haveRawIO is false: fastIO leaves sockets as they are, so socketConn,
// and these, go unused.
const haveRawIO = false

func rawRead(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

func rawWrite(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
