// Package rolloutapitest serves the rollout API's tests, and the
// gateway's and the web UI's over it, a seeded history to read figures
// from.
package rolloutapitest

import (
	"testing"
	"time"

	"github.com/scribegate/scribegate/gateway/rolloutapi"
	"github.com/scribegate/scribegate/review/rollout"
	"github.com/scribegate/scribegate/review/rollout/rollouttest"
)

// Start is the first day of every seeded history: 2 March 2026, UTC.
var Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// Seeded is a rollout API over days of visits from Start
// (rollouttest.History of seed, replayed into a store closed when the test
// ends) with its clock stopped at the end of the last day, so the
// figures do not move; visits are the history, to check them against.
func Seeded(t testing.TB, seed uint64, days int) (h *rolloutapi.Handler, visits []rollouttest.Visit) {
	t.Helper()
	visits = rollouttest.History(seed, Start, days)
	h = rolloutapi.New(rollout.NewReader(rollouttest.Store(t, visits), 0), rollouttest.Groups)
	end := Start.Add(time.Duration(days) * 24 * time.Hour)
	h.Now = func() time.Time { return end }
	return h, visits
}
