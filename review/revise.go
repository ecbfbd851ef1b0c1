package review

import (
	"slices"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// CheckFunc flags, on each sentence of a draft, what the transcript lines
// it cites do not support, keeping the flags a sentence already has.
// transcription/notes.Check is the one the gateway runs; cmd injects it
// through ServiceOptions.Check so that review depends on no drafter.
type CheckFunc func(d note.Draft, transcript []note.Line) note.Draft

// notChecked is the flag a changed sentence gets when the Service has no
// CheckFunc: nothing reaches an EHR unchecked without a clinician seeing so.
const notChecked = "not checked against the transcript (no support check configured)"

// revise returns the sections a clinician saved (edited) with the
// authorship and flags the server gives them, judged against the sections
// stored before the save and the transcript. Whatever the client sent as
// flags or author is ignored:
//
//   - a sentence whose text is that of a stored sentence keeps that
//     sentence's author; its stored flags stand when it cites the same
//     lines, and it is checked again when it cites others;
//   - any other sentence (new, or its text changed) is the clinician's
//     (note.AuthorClinician) and is checked against the lines it cites. A
//     clinician's sentence that cites nothing is their own statement, not
//     an unsupported one: it gets no flag. One that cites evidence gets the
//     same checks as a drafted sentence, so a dose or side changed in an
//     edit is flagged against what was said.
func revise(stored, edited []note.Section, transcript []note.Line, check CheckFunc) []note.Section {
	prior := map[string][]note.Sentence{}
	for _, s := range stored {
		for _, sen := range s.Sentences {
			k := strings.TrimSpace(sen.Text)
			prior[k] = append(prior[k], sen)
		}
	}
	out := make([]note.Section, len(edited))
	// recheck holds, section by section, the sentences to check; at[i][j]
	// is where recheck's sentence j of section i goes in out[i].
	recheck := note.Draft{Sections: make([]note.Section, len(edited))}
	at := make([][]int, len(edited))
	for i, s := range edited {
		ns := s
		ns.Sentences = make([]note.Sentence, len(s.Sentences))
		for j, sen := range s.Sentences {
			sen.Evidence = slices.Clone(sen.Evidence)
			sen.Flags = nil
			sen.Author = note.AuthorClinician
			k := strings.TrimSpace(sen.Text)
			if ps := prior[k]; len(ps) > 0 {
				p := ps[0]
				prior[k] = ps[1:]
				sen.Author = p.Author
				if slices.Equal(p.Evidence, sen.Evidence) {
					sen.Flags = slices.Clone(p.Flags)
					ns.Sentences[j] = sen
					continue
				}
			}
			ns.Sentences[j] = sen
			recheck.Sections[i].Sentences = append(recheck.Sections[i].Sentences, sen)
			at[i] = append(at[i], j)
		}
		out[i] = ns
	}
	if check == nil {
		check = flagUnchecked
	}
	checked := check(recheck, transcript)
	for i, s := range checked.Sections {
		for j, sen := range s.Sentences {
			out[i].Sentences[at[i][j]].Flags = sen.Flags
		}
	}
	return out
}

// flagUnchecked is the CheckFunc of a Service given none: every sentence
// that cites lines is flagged for the reviewer to check by hand.
func flagUnchecked(d note.Draft, _ []note.Line) note.Draft {
	for _, s := range d.Sections {
		for j := range s.Sentences {
			if len(s.Sentences[j].Evidence) > 0 || s.Sentences[j].Author != note.AuthorClinician {
				s.Sentences[j].Flags = append(s.Sentences[j].Flags, notChecked)
			}
		}
	}
	return d
}
