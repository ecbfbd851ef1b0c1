package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
)

// TestBackfillWalksSinceTheLastOne: a backfill walk finds every note
// without a summary row; once a walk has gone through every clinic, the
// next looks only at the notes created since it began (less an hour),
// not at every note again — every note written since has its row.
func TestBackfillWalksSinceTheLastOne(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	prefix := fmt.Sprintf("{t%s}:", review.NewID()[:10])
	s := redisstore.New(c, prefix)
	now := time.Now().UTC()
	for _, n := range []struct {
		id, clinic string
		at         time.Time
	}{{"old-1", "c1", now.Add(-48 * time.Hour)}, {"old-2", "c2", now.Add(-72 * time.Hour)}, {"new-1", "c1", now}, {"new-2", "c2", now.Add(-time.Minute)}} {
		note := &review.Note{ID: n.id, Clinic: n.clinic, Clinician: "dr-a", Patient: "p-" + n.id, State: review.StatePendingReview,
			Version: 1, CreatedAt: n.at, UpdatedAt: n.at}
		if err := s.CreateNote(ctx, note, nil); err != nil {
			t.Fatal(err)
		}
		// As if written by a gateway that kept no summary rows.
		if err := c.HDel(ctx, prefix+"rollup:"+n.clinic+":"+strconv.FormatInt(review.Day(n.at), 10), n.id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	walk := func() []string {
		t.Helper()
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("the walk does not end")
			}
			got, next, err := s.NotesWithoutSummary(ctx, cursor, 1)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, got...)
			if next == "" {
				break
			}
			cursor = next
		}
		slices.Sort(ids)
		return ids
	}
	if got, want := walk(), []string{"new-1", "new-2", "old-1", "old-2"}; !slices.Equal(got, want) {
		t.Fatalf("first walk: %v, want %v", got, want)
	}
	if got, want := walk(), []string{"new-1", "new-2"}; !slices.Equal(got, want) {
		t.Errorf("walk after a complete one: %v, want only the notes created since it began, %v", got, want)
	}
}
