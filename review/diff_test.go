package review

import (
	"fmt"
	"testing"

	"github.com/scribegate/scribegate/transcription/notes"
)

func TestDiffSections(t *testing.T) {
	sec := func(id string, texts ...string) notes.Section {
		s := notes.Section{ID: id}
		for _, x := range texts {
			s.Sentences = append(s.Sentences, notes.Sentence{Text: x})
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		old, new []notes.Section
		want     string
	}{
		{"unchanged", []notes.Section{sec("s", "a", "b")}, []notes.Section{sec("s", "a", "b")}, "[]"},
		{"filled empty section", []notes.Section{sec("s", "a"), sec("o")}, []notes.Section{sec("s", "a"), sec("o", "x", "y")},
			"[{o added 0} {o added 1}]"},
		{"rewrite and append", []notes.Section{sec("p", "a", "b", "c")}, []notes.Section{sec("p", "a", "B", "c", "d")},
			"[{p changed 1} {p added 3}]"},
		{"remove middle", []notes.Section{sec("p", "a", "b", "c")}, []notes.Section{sec("p", "a", "c")}, "[{p removed 1}]"},
		{"section dropped", []notes.Section{sec("p", "a"), sec("q", "z")}, []notes.Section{sec("p", "a")}, "[{q removed 0}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DiffSections(tc.old, tc.new)
			if s := fmt.Sprintf("%v", got); s != tc.want && !(tc.want == "[]" && len(got) == 0) {
				t.Errorf("DiffSections = %s, want %s", s, tc.want)
			}
		})
	}
}
