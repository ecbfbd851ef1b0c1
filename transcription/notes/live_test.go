package notes_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
	"github.com/scribegate/scribegate/transcription/notes/eval"
)

// liveTranscripts are the fixture transcripts: the ACI-Bench sample (one
// with punctuation, one without) and the repository's consultations.
func liveTranscripts(t *testing.T) map[string][]note.Line {
	t.Helper()
	out := map[string][]note.Line{}
	for _, e := range loadSample(t) {
		out[e.ID] = e.Transcript
		bare := append([]note.Line(nil), e.Transcript...)
		for i := range bare {
			bare[i].Speaker = ""
		}
		out[e.ID+" without speakers"] = bare
	}
	for _, name := range []string{"chf-followup", "knee-pain-short"} {
		text, err := os.ReadFile(filepath.Join("..", "..", "testdata", "consultations", name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = eval.ParseDialogue(string(text))
	}
	return out
}

// TestLiveRuleDrafterMatchesChecked redrafts growing transcripts as the
// gateway does, switching template now and then, and compares each draft
// with the checked rule drafter's draft of the same transcript.
func TestLiveRuleDrafterMatchesChecked(t *testing.T) {
	ts, err := notes.NewTemplates(true, "testdata/templates", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	tpls := append(mustTemplates(t).All(), ts.All()...)
	ctx := context.Background()
	for name, tr := range liveTranscripts(t) {
		for step, tpl := range tpls {
			live := &notes.LiveRuleDrafter{}
			other := tpls[(step+4)%len(tpls)] // patient instructions for SOAP: plain and not
			for n, i := 0, 0; n < len(tr); i++ {
				n = min(n+1+(i*7+step)%9, len(tr))
				use := tpl
				if i%5 == 4 {
					use = other
				}
				want, err := notes.Checked(notes.RuleDrafter{}).Draft(ctx, use, tr[:n])
				if err != nil {
					t.Fatal(err)
				}
				got, err := live.Draft(ctx, use, tr[:n])
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("%s, %s, %d utterances: live draft\n%s\nwant\n%s", name, use.ID, n, render(got), render(want))
				}
			}
		}
	}
}

// TestLiveRuleDrafterRereads changes what the live drafter has read: an
// earlier utterance edited or turned into a gap, a shorter transcript, an
// index used twice. Each draft must still be the checked rule drafter's.
func TestLiveRuleDrafterRereads(t *testing.T) {
	tr := liveTranscripts(t)["D2N068"]
	soap, _ := mustTemplates(t).Get(notes.TemplateSOAP)
	edited := append([]note.Line(nil), tr...)
	edited[7].Text = "no , i do n't have any chest pain ."
	gap := append([]note.Line(nil), tr...)
	gap[3].Gap, gap[3].Text = true, "[inaudible]"
	dup := append(append([]note.Line(nil), tr...), note.Line{Index: 11, Speaker: "patient", Text: "i take lisinopril forty milligrams ."})
	live := &notes.LiveRuleDrafter{}
	ctx := context.Background()
	for i, step := range [][]note.Line{tr[:20], tr, edited, edited[:10], gap, tr, dup, tr[:40]} {
		want, _ := notes.Checked(notes.RuleDrafter{}).Draft(ctx, soap, step)
		got, err := live.Draft(ctx, soap, step)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: live draft\n%s\nwant\n%s", i, render(got), render(want))
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := live.Draft(cancelled, soap, tr); err == nil {
		t.Error("cancelled context: no error")
	}
}

// BenchmarkLiveSession20Min is a live session drafted with a
// LiveRuleDrafter, which reads each utterance once.
func BenchmarkLiveSession20Min(b *testing.B) {
	liveSession(b, func() notes.Drafter { return &notes.LiveRuleDrafter{} })
}
