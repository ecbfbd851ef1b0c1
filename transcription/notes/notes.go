// Package notes turns a consultation transcript into a draft clinical note
// that follows a template, with every sentence linked to the utterances it
// rests on so a reviewer can check it against what was said.
package notes

import (
	"context"
	"time"
)

// Utterance is one final piece of a consultation transcript. Index is the
// key evidence links use: it is stable for the life of the note.
type Utterance struct {
	Index int `json:"index"`
	// Speaker is "clinician", "patient" or "" when unknown.
	Speaker string        `json:"speaker,omitempty"`
	Start   time.Duration `json:"start"`
	End     time.Duration `json:"end"`
	Text    string        `json:"text"`
	// Gap marks an utterance whose audio could not be transcribed; Text is
	// then a marker for the reviewer, never invented words.
	Gap bool `json:"gap,omitempty"`
}

// Template says which sections a note has and what belongs in each.
type Template struct {
	// ID is the stable key clients name the template by ("soap").
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"`
	// LOINC is the document type code the note is filed under in the EHR
	// (for example 11506-3 progress note), and LOINCDisplay its display.
	LOINC        string        `json:"loinc" yaml:"loinc"`
	LOINCDisplay string        `json:"loinc_display" yaml:"loinc_display"`
	Sections     []SectionSpec `json:"sections" yaml:"sections"`
}

// SectionSpec describes one section of a template.
type SectionSpec struct {
	ID    string `json:"id" yaml:"id"`
	Title string `json:"title" yaml:"title"`
	// Instructions tell a drafter what belongs in the section.
	Instructions string `json:"instructions,omitempty" yaml:"instructions"`
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

// Sentence is one statement of the note with the utterances it rests on.
type Sentence struct {
	Text string `json:"text"`
	// Evidence lists Utterance.Index values. A sentence a clinician typed
	// has none.
	Evidence []int `json:"evidence"`
	// Flags are reasons a reviewer should check the sentence (unsupported
	// number, negation not found in the evidence …); empty when it checks out.
	// The server computes them (Check, Revise); flags a client sends are
	// ignored.
	Flags []string `json:"flags,omitempty"`
	// Author is "" for a sentence the drafter (the AI) wrote and
	// AuthorClinician for one a clinician typed, added or rewrote. The
	// server sets it on save (Revise), so the EHR's Provenance credits each
	// sentence to whoever wrote it.
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

// Drafter writes a draft note from a transcript. Implementations must be safe
// for concurrent use.
type Drafter interface {
	Draft(ctx context.Context, t Template, transcript []Utterance) (Draft, error)
}
