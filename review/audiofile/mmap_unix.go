//go:build unix

package audiofile

import (
	"os"
	"syscall"
)

// mapSegment maps the first size bytes of a sealed segment for reading,
// so that applying it copies each record from the page cache without a
// system call: a second of a thousand sessions is ten thousand records,
// and a pread(2) each cost more than the copying. Nothing writes to or
// cuts a sealed segment while it is mapped. nil (with an error) when it
// cannot be mapped: the records are read with ReadAt instead.
func mapSegment(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, syscall.EINVAL
	}
	return syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
}

func unmapSegment(b []byte) error { return syscall.Munmap(b) }
