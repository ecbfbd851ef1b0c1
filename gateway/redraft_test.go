package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/leveltest"
	"github.com/scribegate/scribegate/transcription/notes"
)

// stuckDrafter stands in for a drafter still at work when its gateway
// dies: it says it started, then waits for its context to end.
type stuckDrafter struct{ started chan struct{} }

func (d stuckDrafter) Draft(ctx context.Context, _ notes.Template, _ []note.Line) (note.Draft, error) {
	poke(d.started)
	<-ctx.Done()
	return note.Draft{}, ctx.Err()
}

// lineDrafter drafts one sentence per transcript line, citing it, so a
// stored draft shows the transcript it was built from; it keeps the
// templates it was called with. fail makes it fail as a model that is down.
type lineDrafter struct {
	fail      bool
	mu        sync.Mutex
	templates []string
}

func (d *lineDrafter) Draft(_ context.Context, t notes.Template, transcript []note.Line) (note.Draft, error) {
	d.mu.Lock()
	d.templates = append(d.templates, t.ID)
	d.mu.Unlock()
	if d.fail {
		return note.Draft{}, errors.New("model unavailable")
	}
	sec := note.Section{ID: t.Sections[0].ID, Title: t.Sections[0].Title, Sentences: []note.Sentence{}}
	for _, u := range transcript {
		sec.Sentences = append(sec.Sentences, note.Sentence{Text: u.Text, Evidence: []int{u.Index}})
	}
	return note.Draft{Template: t.ID, Drafter: "lines", Sections: []note.Section{sec}}, nil
}

func (d *lineDrafter) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.templates)
}

// TestRecoverQueuesNotesLeftDrafting: a gateway dies (Abort) while its
// drafter works on a finished session's note, which the transcript save
// has made drafting. The gateway recovering the store drafts that note
// from its stored transcript with its template and its clinic's drafter,
// once, and queues it (pending_review); a draft that fails is queued with
// the template's empty sections. On Redis the recovering gateway b runs
// beside a: while a lives and holds the session's lease b leaves the note
// alone, and once a dies b's orphan scan takes it. Before, such a note
// stayed drafting for ever, never reaching the review queue.
func TestRecoverQueuesNotesLeftDrafting(t *testing.T) {
	const n = 3
	for _, tc := range []struct {
		name  string
		redis bool
		fail  bool
	}{
		{"sqlite", false, false},
		{"sqlite, drafter fails", false, true},
		{"redis, two gateways", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			stuck := stuckDrafter{started: make(chan struct{}, 1)}
			lines := &lineDrafter{fail: tc.fail}
			var a, b *durableEnv // b recovers what a leaves
			if tc.redis {
				a, b, _ = leaseGateways(t, time.Second, func(o *Options) {
					o.Limits.OrphanScan = 200 * time.Millisecond
					o.Drafter = lines
					if o.Instance == "a" {
						o.Drafter = stuck
					}
				})
				if err := b.srv.Recover(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				a = newDurableEnv(t, nil, func(o *Options) { o.Drafter = stuck })
			}

			pcm := leveltest.Audio(n)
			c, id, col := a.startSending(t, "patient=pat-1", pcm, 3200, int64(len(pcm)))
			defer c.Close()
			sendText(t, c, `{"type":"CloseStream"}`)
			select {
			case <-stuck.started:
			case <-time.After(20 * time.Second):
				t.Fatal("the session was not drafted after CloseStream")
			}
			if b != nil {
				time.Sleep(time.Second) // b scans while a lives and renews its lease
				if got := lines.calls(); len(got) != 0 {
					t.Fatalf("gateway b drafted a note gateway a is drafting: %v", got)
				}
			}
			a.crash(col) // between the transcript's save and the draft's
			left, err := a.svc.SessionNote(ctx, id)
			if err != nil || left.State != review.StateDrafting {
				t.Fatalf("after the crash the note is %v, %v; want drafting", left.State, err)
			}
			if b == nil {
				b = a.restart(t, func(o *Options) { o.Drafter = lines })
			}

			got, ok := b.noteWhen(t, id, func(n *review.Note) bool { return n.State == review.StatePendingReview })
			if !ok {
				t.Fatalf("the note a crash left drafting is still %s, want pending_review", got.State)
			}
			if texts := lineTexts(got.Transcript); !slices.Equal(texts, leveltest.Want(n)) {
				t.Errorf("queued transcript %v, want %v", texts, leveltest.Want(n))
			}
			if calls := lines.calls(); !slices.Equal(calls, []string{got.Template}) {
				t.Errorf("drafter called with templates %v, want once with the note's %q", calls, got.Template)
			}
			if tc.fail {
				tpl, err := b.srv.opts.Templates.Get(got.Template)
				if err != nil {
					t.Fatal(err)
				}
				if d := got.Draft; d.Fallback == "" || d.Drafter != "none" || len(d.Sections) != len(tpl.Sections) {
					t.Errorf("a failed draft was queued as %+v, want the template's %d empty sections and a fallback", d, len(tpl.Sections))
				}
				return
			}
			if d := got.Draft; d.Drafter != "lines" || d.Template != got.Template || len(d.Sections) != 1 {
				t.Fatalf("queued draft %+v, want the lines drafter's of template %q", d, got.Template)
			}
			var texts []string
			for i, s := range got.Draft.Sections[0].Sentences {
				texts = append(texts, s.Text)
				if want := got.Transcript[i].Index; !slices.Equal(s.Evidence, []int{want}) {
					t.Errorf("sentence %d cites %v, want line %d", i, s.Evidence, want)
				}
			}
			if !slices.Equal(texts, leveltest.Want(n)) {
				t.Errorf("queued draft says %v, want one sentence per transcript line %v", texts, leveltest.Want(n))
			}
		})
	}
}
