package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
)

// TestLoadProcStatsCountsMemoryNotMappedFiles: the memory a process
// allocates counts, the file pages it maps (page cache) do not.
func TestLoadProcStatsCountsMemoryNotMappedFiles(t *testing.T) {
	const size = 64 << 20
	f, err := os.Create(filepath.Join(t.TempDir(), "segment"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{7}, 1<<20)
	for range size / len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// Whatever the package's earlier tests left on the heap is returned
	// now, and no collection runs while this one measures: otherwise the
	// scavenger handing their pages back would be read as this test's
	// allocation not counting.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	debug.FreeOSMemory()
	_, before, _ := procStats(os.Getpid())
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	sum := 0
	for i := 0; i < len(m); i += 4096 {
		sum += int(m[i]) // read every page through the mapping
	}
	if sum != 7*size/4096 {
		t.Fatalf("read %d through the mapping", sum)
	}
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
