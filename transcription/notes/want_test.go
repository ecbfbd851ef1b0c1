package notes_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/review/note"
)

// wantSection stops the test unless a section's sentences are want, in
// order, and says the section it got.
func wantSection(t *testing.T, d note.Draft, section string, want []string) {
	t.Helper()
	if got := sectionTexts(d, section); !slices.Equal(got, want) {
		t.Fatalf("%s %q\nwant %q", section, got, want)
	}
}

// wantUnflagged reports each sentence of a section ("" for every
// section) that carries a flag: why, in a word, it should carry none.
func wantUnflagged(t *testing.T, d note.Draft, section, why string) {
	t.Helper()
	for _, s := range d.Sections {
		if section != "" && s.ID != section {
			continue
		}
		for _, sen := range s.Sentences {
			if len(sen.Flags) > 0 {
				t.Errorf("%q flagged %q%s", sen.Text, sen.Flags, why)
			}
		}
	}
}

// wantCited reports unless the section has a sentence starting with
// prefix that reads text ("" for any text) and cites evidence, unflagged;
// it says the section's sentences when not.
func wantCited(t *testing.T, d note.Draft, section, prefix, text string, evidence []int) {
	t.Helper()
	s, ok := sentence(d, section, prefix)
	if !ok || text != "" && s.Text != text || !slices.Equal(s.Evidence, evidence) || len(s.Flags) > 0 {
		t.Errorf("%s sentence %+v, want %q citing %v, unflagged\n%q", section, s, cmp.Or(text, prefix+"…"), evidence, sectionTexts(d, section))
	}
}

// wantSays reports each of words the draft's text does not say; how
// tells which draft, where a test drafts more than one.
func wantSays(t *testing.T, d note.Draft, words []string, how string) {
	t.Helper()
	text := d.Text()
	for _, w := range words {
		if !strings.Contains(text, w) {
			t.Errorf("draft%s lacks %q:\n%s", how, w, text)
		}
	}
}

// wantNoneSays reports each of texts that says one of words: why, in a
// few words, none should.
func wantNoneSays(t *testing.T, texts, words []string, why string) {
	t.Helper()
	for _, text := range texts {
		for _, w := range words {
			if strings.Contains(text, w) {
				t.Errorf("%q drafted: %s", text, why)
			}
		}
	}
}
