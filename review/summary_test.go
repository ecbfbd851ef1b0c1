package review_test

import (
	"encoding/binary"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
)

// TestPackSummaries: a day's rows packed into one value come back equal,
// times and counts at their extremes included, and a value cut short or
// padded is refused rather than half read.
func TestPackSummaries(t *testing.T) {
	at := time.Date(2026, 3, 4, 9, 30, 0, 123456789, time.UTC)
	rows := []review.Summary{
		{NoteID: "n1", Clinic: "c1", Clinician: "dr-a", Template: "soap", Connector: "epic", State: review.StatePushed,
			CreatedAt: at, Rollup: review.Rollup{EndedAt: at.Add(time.Minute), ConsultMS: math.MaxInt64, ApprovedAt: at.Add(time.Hour),
				PushedAt: at.Add(2 * time.Hour), LastAt: at.Add(2 * time.Hour), DraftSentences: 12, DraftWords: 140, Changed: 3,
				Added: 1, Removed: 2, WordEdits: 1 << 40, FlagsRaised: 2, FlagsAcked: 2,
				Failures: []review.PushFailure{{Connector: "epic", Reason: review.FailTransient, At: at.Add(90 * time.Minute)}}}},
		{NoteID: "n2", Clinic: "c1", Clinician: "dr-é", State: review.StateRejected, CreatedAt: time.Unix(-86400*400, 1).UTC(),
			Rollup: review.Rollup{ConsultMS: -1, RejectedAt: at, LastAt: at}, RejectReason: "Wrong patient"},
		{NoteID: "n3", Clinic: "c1", Clinician: "dr-b", State: review.StatePendingReview, CreatedAt: at},
	}
	b := review.PackSummaries(rows)
	got, err := review.UnpackSummaries(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rows) {
		t.Fatalf("unpacked\n %+v\nwant\n %+v", got, rows)
	}
	if got, err := review.UnpackSummaries(review.PackSummaries(nil)); err != nil || len(got) != 0 {
		t.Errorf("no rows: %v, %v", got, err)
	}
	for i := range len(b) - 1 {
		if _, err := review.UnpackSummaries(b[:i]); err == nil {
			t.Fatalf("packed rows cut to %d of %d bytes decoded", i, len(b))
		}
	}
	if _, err := review.UnpackSummaries(append(b, 0)); err == nil {
		t.Error("packed rows with a byte too many decoded")
	}
	// The compact form holds every field.
	if got := review.CompactSummaries(rows).Summaries(); !reflect.DeepEqual(got, rows) {
		t.Errorf("compact rows\n %+v\nwant\n %+v", got, rows)
	}
	// A day packed before format 2 (format 1: each row as MarshalBinary
	// encodes it, length-prefixed) is still read.
	v1 := binary.AppendUvarint([]byte{1}, uint64(len(rows)))
	for _, r := range rows {
		one, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		v1 = append(binary.AppendUvarint(v1, uint64(len(one))), one...)
	}
	if got, err := review.UnpackSummaries(v1); err != nil || !reflect.DeepEqual(got, rows) {
		t.Errorf("format 1 unpacked\n %+v, %v\nwant\n %+v", got, err, rows)
	}
	// The rows' own encoding round-trips through the same decoder.
	for _, r := range rows {
		one, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back review.Summary
		if err := back.UnmarshalBinary(one); err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("row %s: %+v, %v", r.NoteID, back, err)
		}
	}
}
