package main

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestLoadProcStatsCountsMemoryNotMappedFiles: the memory a process
// allocates counts, the file pages it maps (page cache) do not.
func TestLoadProcStatsCountsMemoryNotMappedFiles(t *testing.T) {
	const size = 64 << 20
	touch := func(b []byte) {
		for i := 0; i < len(b); i += 4096 {
			_ = b[i]
		}
	}
	_, before, _ := procStats(os.Getpid())
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	touch(m)
	_, mapped, _ := procStats(os.Getpid())
	if mapped-before > size/4 {
		t.Errorf("a %d MiB file mapped and read counted %d MiB", size>>20, (mapped-before)>>20)
	}
	heap := make([]byte, size)
	for i := 0; i < len(heap); i += 4096 {
		heap[i] = 1
	}
	_, allocated, _ := procStats(os.Getpid())
	if allocated-mapped < size*3/4 {
		t.Errorf("%d MiB allocated and written counted %d MiB", size>>20, (allocated-mapped)>>20)
	}
	runtime.KeepAlive(heap)
}
