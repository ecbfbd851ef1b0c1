package rollout_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/rollout"
	"github.com/scribegate/scribegate/review/rollout/rollouttest"
)

// backfillStore is a store that can list the notes it holds without a
// summary row, and forget is how a test makes it look as if written by
// a gateway that kept none: no rows and no rollups on the notes.
type backfillStore struct {
	summaryStore
	review.SummaryBackfiller
	forget func(t *testing.T)
}

func backfillStores(t *testing.T) map[string]backfillStore {
	ctx := context.Background()
	path, url := filepath.Join(t.TempDir(), "review.db"), redistest.URL(t)
	sq, rs := openStores(t, path, url)
	return map[string]backfillStore{
		"sqlite": {sq, sq, func(t *testing.T) {
			// The store is open and may be writing (its checkpoints,
			// a warming reader): wait for its lock as the store's own
			// connections do, rather than fail with SQLITE_BUSY.
			db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, q := range []string{`DELETE FROM rollup`, `DELETE FROM rollup_day`, `DELETE FROM rollup_packed`,
				`UPDATE notes SET body = json_remove(body, '$.rollup')`} {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
		}},
		"redis": {rs, rs, func(t *testing.T) {
			c := redistest.Client(t, url)
			for _, pattern := range []string{redisstore.DefaultPrefix + "rollup:*", redisstore.DefaultPrefix + "note:*"} {
				keys, err := c.Keys(ctx, pattern).Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					if pattern == redisstore.DefaultPrefix+"rollup:*" {
						c.Del(ctx, k)
						continue
					}
					var n map[string]json.RawMessage
					b, err := c.Get(ctx, k).Bytes()
					if err != nil || json.Unmarshal(b, &n) != nil {
						t.Fatalf("note %s: %v", k, err)
					}
					delete(n, "rollup")
					b, _ = json.Marshal(n)
					if err := c.Set(ctx, k, b, 0).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
		}},
	}
}

// allRows reads every summary row of the clinics, by note.
func allRows(t *testing.T, s rollout.Source, from, to time.Time) map[string]review.Summary {
	t.Helper()
	ctx := context.Background()
	out := map[string]review.Summary{}
	for _, c := range []string{"c1", "c2"} {
		days, err := s.SummaryDays(ctx, c, review.Day(from), review.Day(to)+1)
		if err != nil {
			t.Fatal(err)
		}
		for d := range days {
			rows, _, err := s.DaySummaries(ctx, c, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				out[r.NoteID] = r
			}
		}
	}
	return out
}

// TestBackfill: notes stored by a gateway that kept no summary rows get
// them from their audit trails — the rows the review service would have
// kept, except the edit figures of notes edited (their first draft is
// gone) — once, however often Backfill runs; a transition of such a note
// rebuilds its rollup first. The figures then match the history's
// script but for the edits.
func TestBackfill(t *testing.T) {
	ctx := context.Background()
	const n = 30
	visits := rollouttest.History(11, start, n)
	end := start.Add(n * 24 * time.Hour)
	for name, store := range backfillStores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := rollouttest.Replay(ctx, store, visits); err != nil {
				t.Fatal(err)
			}
			kept := allRows(t, store, start, end)
			if len(kept) != len(visits) {
				t.Fatalf("%d rows kept, %d visits", len(kept), len(visits))
			}
			store.forget(t)
			if rows := allRows(t, store, start, end); len(rows) != 0 {
				t.Fatalf("%d rows after forgetting", len(rows))
			}
			edited := func(id string) bool {
				trail, err := store.ListAudit(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range trail {
					if e.Action == review.ActionEdit || e.Action == review.ActionAmend {
						return true
					}
				}
				return false
			}
			// A note still waiting is rejected before the backfill: its
			// rollup is rebuilt from its trail first.
			var waiting string
			for id, r := range kept {
				if r.State == review.StatePendingReview && !edited(id) && (waiting == "" || id < waiting) {
					waiting = id
				}
			}
			if waiting == "" {
				t.Fatal("the history has no note waiting unedited")
			}
			svc := review.NewService(store, review.ServiceOptions{Now: func() time.Time { return end }})
			n, err := store.GetNote(ctx, waiting)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Reject(ctx, review.Actor{Subject: "rev-1", Clinic: n.Clinic, Role: review.RoleReviewer}, waiting, n.Version, "Duplicate"); err != nil {
				t.Fatal(err)
			}
			w := kept[waiting]
			w.State, w.RejectedAt, w.LastAt, w.RejectReason = review.StateRejected, end, end, "Duplicate"
			kept[waiting] = w

			got, err := review.Backfill(ctx, store, store)
			if err != nil || got != len(visits)-1 {
				t.Fatalf("Backfill = %d, %v; want %d", got, err, len(visits)-1)
			}
			rebuilt := allRows(t, store, start, end)
			for id, want := range kept {
				if edited(id) {
					// The first draft is gone: no edit figures; the flags
					// raised are the current version's.
					n, err := store.GetNote(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					want.DraftSentences, want.DraftWords, want.Changed, want.Added, want.Removed, want.WordEdits = 0, 0, 0, 0, 0, 0
					want.FlagsRaised = len(review.OpenFlags(n.Draft))
				}
				if g := rebuilt[id]; !reflect.DeepEqual(g, want) {
					t.Errorf("note %s:\nrebuilt %+v\n   kept %+v", id, g, want)
				}
			}
			// Again: nothing to do, nothing changed.
			if got, err := review.Backfill(ctx, store, store); err != nil || got != 0 {
				t.Errorf("second Backfill = %d, %v", got, err)
			}
			if again := allRows(t, store, start, end); !reflect.DeepEqual(again, rebuilt) {
				t.Error("a second Backfill changed the rows")
			}
		})
	}
}
