package standin

import (
	"slices"
	"testing"
)

func TestFaultsTakeFirstMatchInOrder(t *testing.T) {
	var q Faults[string]
	q.Inject("search", 1)
	q.Inject("write", 2)
	if f, ok := q.Take(func(f string) bool { return f == "write" }); !ok || f != "write" {
		t.Fatalf("Take(write) = %q, %v", f, ok)
	}
	if n := q.PendingFaults(); n != 2 {
		t.Fatalf("PendingFaults = %d after one of three fired, want 2", n)
	}
	for _, want := range []string{"search", "write"} {
		if f, ok := q.Take(nil); !ok || f != want {
			t.Fatalf("Take(nil) = %q, %v, want %q", f, ok, want)
		}
	}
	if f, ok := q.Take(nil); ok || f != "" {
		t.Fatalf("Take on an empty queue = %q, %v", f, ok)
	}
}

func TestLogAllIsACopy(t *testing.T) {
	var l Log[int]
	l.Add(1)
	l.Add(2)
	all := l.All()
	all[0] = 9
	if got := l.All(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("All = %v after changing an earlier copy, want [1 2]", got)
	}
}
