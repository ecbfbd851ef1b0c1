// Package note holds the data of a clinical note as the gateway stores,
// reviews and files it: the draft, its sections and sentences, and the
// transcript lines each sentence cites. It is a leaf: it depends on no
// transcription engine, drafter or store, so review and the connectors can
// share the types without pulling the engines in.
package note

import "time"

// Line is one final line of a consultation's transcript: what one speaker
// said, as recognised. Index is the key evidence links use: it is stable
// for the life of the note. (The audio an engine recognises a line from is
// transcription.Utterance.)
type Line struct {
	Index int `json:"index"`
	// Speaker is "clinician", "patient" or "" when unknown.
	Speaker string        `json:"speaker,omitempty"`
	Start   time.Duration `json:"start"`
	End     time.Duration `json:"end"`
	Text    string        `json:"text"`
	// Gap marks a line whose audio could not be transcribed; Text is then a
	// marker for the reviewer, never invented words.
	Gap bool `json:"gap,omitempty"`
}

// Draft is a note as a drafter wrote it or a clinician edited it.
type Draft struct {
	Template string    `json:"template"`
	Sections []Section `json:"sections"`
	// Drafter names what wrote the draft ("rules", "openai:gpt-4o-mini"), so
	// the EHR document can declare the software that drafted it.
	Drafter string `json:"drafter"`
	// Fallback says why a configured drafter was not used, when it was not.
	Fallback string `json:"fallback,omitempty"`
}

// Section is one filled template section.
type Section struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Sentences []Sentence `json:"sentences"`
}

// Sentence is one statement of the note with the transcript lines it rests
// on.
type Sentence struct {
	Text string `json:"text"`
	// Evidence lists Line.Index values. A sentence a clinician typed may
	// have none.
	Evidence []int `json:"evidence"`
	// Flags are reasons a reviewer should check the sentence (unsupported
	// number, negation not found in the evidence …); empty when it checks out.
	// The server computes them (the support check of transcription/notes,
	// run on every draft and on what a clinician changes); flags a client
	// sends are ignored.
	Flags []string `json:"flags,omitempty"`
	// Author is "" for a sentence the drafter (the AI) wrote and
	// AuthorClinician for one a clinician typed, added or rewrote. The
	// server sets it on save, so the EHR's Provenance credits each sentence
	// to whoever wrote it.
	Author string `json:"author,omitempty"`
}

// AuthorClinician is Sentence.Author of a sentence a clinician wrote.
const AuthorClinician = "clinician"

// ClinicianAuthored reports whether a clinician wrote any sentence of d,
// so the EHR document names them as an author beside the drafting device.
func (d Draft) ClinicianAuthored() bool {
	for _, s := range d.Sections {
		for _, sen := range s.Sentences {
			if sen.Author == AuthorClinician {
				return true
			}
		}
	}
	return false
}

// Text renders the draft as plain text, each section title followed
// by their sentences: the form EHRs that take text/plain file.
func (d Draft) Text() string {
	var b []byte
	for i, s := range d.Sections {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, s.Title...)
		b = append(b, ":\n"...)
		if len(s.Sentences) == 0 {
			b = append(b, "(none documented)\n"...)
			continue
		}
		for _, sen := range s.Sentences {
			b = append(b, sen.Text...)
			b = append(b, '\n')
		}
	}
	return string(b)
}
