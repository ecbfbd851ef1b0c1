// Package notes turns a consultation transcript into a draft clinical note
// that follows a template, with every sentence linked to the utterances it
// rests on so a reviewer can check it against what was said.
package notes

import (
	"context"

	"github.com/scribegate/scribegate/review/note"
)

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

// Drafter writes a draft note from a transcript. Implementations must be safe
// for concurrent use.
type Drafter interface {
	Draft(ctx context.Context, t Template, transcript []note.Line) (note.Draft, error)
}
