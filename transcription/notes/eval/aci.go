// Package eval measures note drafters against ACI-Bench, a public set of
// synthetic doctor–patient dialogues with the notes clinicians wrote for
// them (Yim et al., "ACI-BENCH", Nature Scientific Data 2023, CC BY 4.0).
// It loads the corpus, runs any notes.Drafter over each dialogue, and
// compares the draft with the reference note section by section (ROUGE),
// alongside how much of the draft the support check flags and how long it
// is, so a change to a drafter is judged by numbers rather than by eye.
package eval

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// Group is a part of a note that reference sections are scored in: the
// four "divisions" the ACI-Bench paper scores.
type Group string

// The groups reference sections map to. Other holds headings that fit none
// (they still count in the overall score). Objective is no scored group:
// it names a template section that holds both examination and results.
const (
	Subjective       Group = "subjective"
	ObjectiveExam    Group = "objective_exam"
	ObjectiveResults Group = "objective_results"
	AssessmentPlan   Group = "assessment_and_plan"
	Objective        Group = "objective"
	Other            Group = "other"
)

// Groups lists the scored groups in table order.
var Groups = []Group{Subjective, ObjectiveExam, ObjectiveResults, AssessmentPlan}

// Encounter is one ACI-Bench dialogue with its reference note.
type Encounter struct {
	Dataset string // "aci", "virtassist" or "virtscribe"
	ID      string // encounter_id, e.g. "D2N068"
	// Transcript is the dialogue as utterances; Speaker is "clinician" for
	// [doctor] turns and "patient" for [patient] and [patient_guest] turns.
	Transcript []note.Line
	// Note is the reference note as written, and Sections its parts by
	// heading in order.
	Note     string
	Sections []RefSection
}

// RefSection is one headed part of a reference note.
type RefSection struct {
	Heading string
	Group   Group
	Text    string
}

// GroupText joins the reference sections of one group.
func (e Encounter) GroupText(g Group) string {
	var parts []string
	for _, s := range e.Sections {
		if s.Group == g {
			parts = append(parts, s.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// ErrBadCorpus is wrapped by errors about a malformed corpus file.
var ErrBadCorpus = errors.New("eval: malformed ACI-Bench file")

// LoadSplit reads dir/<split>.csv ("train" or "valid").
func LoadSplit(dir, split string) ([]Encounter, error) {
	if split != "train" && split != "valid" {
		return nil, fmt.Errorf("eval: unknown split %q (want train or valid)", split)
	}
	f, err := os.Open(filepath.Join(dir, split+".csv"))
	if err != nil {
		return nil, fmt.Errorf("eval: opening ACI-Bench split: %w", err)
	}
	defer f.Close()
	return Load(f)
}

// Load parses ACI-Bench CSV (columns dataset, encounter_id, dialogue, note;
// extra columns are ignored).
func Load(r io.Reader) ([]Encounter, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: reading header: %v", ErrBadCorpus, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, want := range []string{"dataset", "encounter_id", "dialogue", "note"} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("%w: no %q column", ErrBadCorpus, want)
		}
	}
	var out []Encounter
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrBadCorpus, line, err)
		}
		get := func(k string) string {
			if i := col[k]; i < len(rec) {
				return rec[i]
			}
			return ""
		}
		e := Encounter{Dataset: get("dataset"), ID: get("encounter_id"), Note: get("note")}
		e.Transcript = ParseDialogue(get("dialogue"))
		e.Sections = ParseNote(e.Note)
		out = append(out, e)
	}
	return out, nil
}

var turnTag = regexp.MustCompile(`^\s*\[([a-z_0-9]+)\]\s*`)

// ParseDialogue splits a dialogue into utterances, one per tagged turn.
// Lines without a tag continue the previous turn.
func ParseDialogue(dialogue string) []note.Line {
	var out []note.Line
	for _, line := range strings.Split(dialogue, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := turnTag.FindStringSubmatch(line)
		if m == nil {
			if len(out) > 0 {
				out[len(out)-1].Text += " " + line
			} else {
				out = append(out, note.Line{Index: 0, Text: line})
			}
			continue
		}
		speaker := ""
		switch {
		case strings.HasPrefix(m[1], "doctor"):
			speaker = "clinician"
		case strings.HasPrefix(m[1], "patient"):
			speaker = "patient"
		}
		out = append(out, note.Line{Index: len(out), Speaker: speaker, Text: strings.TrimSpace(line[len(m[0]):])})
	}
	return out
}

// headingGroups maps reference-note headings to SOAP groups, by the words
// the heading contains, first match wins.
var headingGroups = []struct {
	re *regexp.Regexp
	g  Group
}{
	{regexp.MustCompile(`ASSESSMENT|PLAN|IMPRESSION|INSTRUCTIONS|PROCEDURE|RECOMMENDATION|DIAGNOS`), AssessmentPlan},
	{regexp.MustCompile(`RESULTS|LABS|IMAGING|FINDINGS`), ObjectiveResults},
	{regexp.MustCompile(`EXAM|VITALS`), ObjectiveExam},
	{regexp.MustCompile(`COMPLAINT|^CC$|HPI|HISTORY|REVIEW OF SYSTEMS|^ROS$|MEDICATIONS|ALLERGIES|SYMPTOMS`), Subjective},
}

var headingLine = regexp.MustCompile(`^[A-Z][A-Z &/,()-]{1,48}:?$`)

// HeadingGroup returns the group of a capitalised heading, or "" when the
// line is not a heading the notes use.
func HeadingGroup(line string) Group {
	line = strings.TrimSpace(line)
	if !headingLine.MatchString(line) {
		return ""
	}
	h := strings.TrimSuffix(line, ":")
	for _, hg := range headingGroups {
		if hg.re.MatchString(h) {
			return hg.g
		}
	}
	return ""
}

// ParseNote cuts a reference note into sections at its capitalised
// headings (CHIEF COMPLAINT, HISTORY OF PRESENT ILLNESS, PHYSICAL EXAM,
// ASSESSMENT AND PLAN …). Capitalised lines that are not headings we know
// (a sub-heading such as "MSK:") stay in the text. Text before the first
// heading is Other.
func ParseNote(note string) []RefSection {
	var out []RefSection
	cur := RefSection{Group: Other}
	var body []string
	flush := func() {
		cur.Text = strings.TrimSpace(strings.Join(body, "\n"))
		if cur.Text != "" || cur.Heading != "" {
			out = append(out, cur)
		}
		body = nil
	}
	for _, line := range strings.Split(note, "\n") {
		if g := HeadingGroup(line); g != "" {
			flush()
			cur = RefSection{Heading: strings.TrimSuffix(strings.TrimSpace(line), ":"), Group: g}
			continue
		}
		body = append(body, line)
	}
	flush()
	return out
}
