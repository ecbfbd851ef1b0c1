package notes

import (
	"slices"
	"strings"
)

// Revise returns the sections a clinician saved (edited) with the
// authorship and flags the server gives them, judged against the sections
// stored before the save and the transcript. Whatever the client sent as
// flags or author is ignored:
//
//   - a sentence whose text is that of a stored sentence keeps that
//     sentence's author; its stored flags stand when it cites the same
//     utterances, and it is checked again when it cites others;
//   - any other sentence (new, or its text changed) is the clinician's
//     (AuthorClinician) and is checked against the utterances it cites. A
//     clinician's sentence that cites nothing is their own statement, not
//     an unsupported one: it gets no flag. One that cites evidence gets the
//     same checks as a drafted sentence, so a dose or side changed in an
//     edit is flagged against what was said.
func Revise(stored, edited []Section, transcript []Utterance) []Section {
	cites := newCitations(transcript)
	prior := map[string][]Sentence{}
	for _, s := range stored {
		for _, sen := range s.Sentences {
			k := strings.TrimSpace(sen.Text)
			prior[k] = append(prior[k], sen)
		}
	}
	out := make([]Section, len(edited))
	for i, s := range edited {
		ns := s
		ns.Sentences = make([]Sentence, len(s.Sentences))
		for j, sen := range s.Sentences {
			sen.Evidence = slices.Clone(sen.Evidence)
			sen.Flags = nil
			sen.Author = AuthorClinician
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
			sen.Flags = nilIfEmpty(supportFlags(sen, cites))
			ns.Sentences[j] = sen
		}
		out[i] = ns
	}
	return out
}

func nilIfEmpty(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	return xs
}
