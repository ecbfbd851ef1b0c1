package review

import (
	"fmt"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

func TestDiffSections(t *testing.T) {
	sec := func(id string, texts ...string) note.Section {
		s := note.Section{ID: id}
		for _, x := range texts {
			s.Sentences = append(s.Sentences, note.Sentence{Text: x})
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		old, new []note.Section
		want     string
	}{
		{"unchanged", []note.Section{sec("s", "a", "b")}, []note.Section{sec("s", "a", "b")}, "[]"},
		{"filled empty section", []note.Section{sec("s", "a"), sec("o")}, []note.Section{sec("s", "a"), sec("o", "x", "y")},
			"[{o added 0} {o added 1}]"},
		{"rewrite and append", []note.Section{sec("p", "a", "b", "c")}, []note.Section{sec("p", "a", "B", "c", "d")},
			"[{p changed 1} {p added 3}]"},
		{"remove middle", []note.Section{sec("p", "a", "b", "c")}, []note.Section{sec("p", "a", "c")}, "[{p removed 1}]"},
		{"section dropped", []note.Section{sec("p", "a"), sec("q", "z")}, []note.Section{sec("p", "a")}, "[{q removed 0}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := DiffSections(tc.old, tc.new)
			if s := fmt.Sprintf("%v", got); s != tc.want && !(tc.want == "[]" && len(got) == 0) {
				t.Errorf("DiffSections = %s, want %s", s, tc.want)
			}
		})
	}
}
