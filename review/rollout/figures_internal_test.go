package rollout

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestNth checks the selection against sorting, on sizes and value
// spreads (many repeats, all equal, sorted, reversed) that trip selection
// code up.
func TestNth(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 5, 10, 101, 1000} {
		for _, spread := range []int{1, 3, 1000, 1 << 30} {
			for _, order := range []string{"random", "sorted", "reversed"} {
				xs := make([]time.Duration, n)
				for i := range xs {
					xs[i] = time.Duration(rng.IntN(spread))
				}
				switch order {
				case "sorted":
					slices.Sort(xs)
				case "reversed":
					slices.Sort(xs)
					slices.Reverse(xs)
				}
				sorted := slices.Clone(xs)
				slices.Sort(sorted)
				for _, k := range []int{0, n / 2, n * 9 / 10, n - 1} {
					c := slices.Clone(xs)
					if got := nth(c, k); got != sorted[k] {
						t.Fatalf("n=%d spread=%d %s: nth(%d) = %d, want %d", n, spread, order, k, got, sorted[k])
					}
					for i := range c {
						if i < k && c[i] > sorted[k] || i > k && c[i] < sorted[k] {
							t.Fatalf("n=%d spread=%d %s k=%d: not partitioned at %d", n, spread, order, k, i)
						}
					}
				}
			}
		}
	}
}
