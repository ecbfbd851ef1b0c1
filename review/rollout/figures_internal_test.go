package rollout

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSortedEach checks the radix sort against sorting, on sizes and
// value spreads (many repeats, all equal, sorted, reversed, negative,
// and so wide that it falls back to comparison sorting) that trip
// sorting code up.
func TestSortedEach(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 5, 10, 101, 1000, 5000} {
		for _, spread := range []int64{1, 3, 1000, 1 << 30, 1 << 62} {
			for _, order := range []string{"random", "sorted", "reversed"} {
				keys := make([]int64, n)
				for i := range keys {
					keys[i] = rng.Int64N(spread) - spread/2
				}
				switch order {
				case "sorted":
					slices.Sort(keys)
				case "reversed":
					slices.Sort(keys)
					slices.Reverse(keys)
				}
				want := slices.Clone(keys)
				slices.Sort(want)
				// Each key's tag is its index: the keys come back in
				// order, each once, with its own tag.
				tags := make([]int32, n)
				for i := range tags {
					tags[i] = int32(i)
				}
				i := 0
				seen := make([]bool, n)
				sortedEach(keys, tags, func(k int64, j int32) {
					if i >= n || seen[j] || keys[j] != k || k != want[i] {
						t.Fatalf("n=%d spread=%d %s: position %d holds key %d tagged %d (seen %v)", n, spread, order, i, k, j, seen[j])
					}
					seen[j] = true
					i++
				})
				if i != n {
					t.Fatalf("n=%d spread=%d %s: %d keys", n, spread, order, i)
				}
			}
		}
	}
}

// TestQuantileSelector checks the quantiles selected for many sets at
// once against sorting each set's durations and taking the nearest rank,
// rounded to hundredths of a minute, as the figures define them.
func TestQuantileSelector(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 10, 1000, 20000} {
		for _, spread := range []time.Duration{time.Nanosecond, 600 * time.Millisecond, time.Minute, 90 * 24 * time.Hour, math.MaxInt64 / 2} {
			accs := make([]*acc, 7)
			for i := range accs {
				accs[i] = &acc{id: int32(i)}
			}
			qs := newQuantileSelector(0)
			var last ownerCache
			sets := make([][]time.Duration, len(accs))
			for range n {
				d := time.Duration(rng.Int64N(int64(spread))) - spread/4
				owners := [4]int32{0, int32(1 + rng.IntN(2)), -1, -1}
				if rng.IntN(2) == 0 {
					owners[2] = int32(3 + rng.IntN(2))
				}
				if rng.IntN(3) == 0 {
					owners[3] = int32(5 + rng.IntN(2))
				}
				qs.add(d, owners, &last)
				for _, o := range owners {
					if o >= 0 {
						sets[o] = append(sets[o], d)
						accs[o].nApproval++
					}
				}
			}
			qs.resolve(accs, func(a *acc) (int, *Quantiles) { return a.nApproval, &a.toApproval })
			for i, ds := range sets {
				slices.Sort(ds)
				var want Quantiles
				if len(ds) > 0 {
					rank := func(p float64) int { return max(int(math.Ceil(p*float64(len(ds))))-1, 0) }
					want = Quantiles{Median: round(ds[rank(0.5)].Minutes(), 2), P90: round(ds[rank(0.9)].Minutes(), 2)}
				}
				if got := accs[i].toApproval; got != want {
					t.Fatalf("n=%d spread=%s set %d of %d durations: %+v, want %+v", n, spread, i, len(ds), got, want)
				}
			}
		}
	}
}
