package gateway

import (
	"testing"
	"time"
)

// TestDraftBudget: drafting time is earned at the rate, capped at the
// burst; a draft may start while the balance is positive and overdraw it.
func TestDraftBudget(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	b := newDraftBudget(0.5, func() time.Time { return now }) // half a CPU: burst 500 ms
	steps := []struct {
		advance time.Duration // the clock moves, then
		spend   time.Duration // a draft that may start spends this
		allowed bool
	}{
		{0, 400 * time.Millisecond, true},          // 500 → 100 ms
		{0, 300 * time.Millisecond, true},          // 100 → -200 ms: overdrawn
		{200 * time.Millisecond, 0, false},         // earns 100: -100 ms
		{time.Second, 50 * time.Millisecond, true}, // earns 500: 400 → 350 ms
		{time.Hour, 0, true},                       // saved up only to the burst: 500 ms
		{0, 600 * time.Millisecond, true},          // → -100 ms
		{100 * time.Millisecond, 0, false},         // earns 50: -50 ms
		{100 * time.Millisecond, 0, false},         // earns 50: 0, not positive
		{2 * time.Millisecond, 0, true},            // earns 1: 1 ms
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		if got := b.allow(); got != st.allowed {
			t.Fatalf("step %d: allow = %v, want %v (balance %v)", i, got, st.allowed, b.balance)
		}
		if st.allowed {
			b.spend(st.spend)
		}
	}
}
