package gateway

import (
	"syscall"
	"unsafe"
)

// haveRawIO: fastIO wraps sockets.
const haveRawIO = true

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket
// made as raw system calls: they never block, so the runtime need not be
// told (see fastIO). Errors are syscall.Errno values.
func rawRead(fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd uintptr, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
