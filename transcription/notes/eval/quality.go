package eval

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/transcription/notes"
)

// MaxSentenceWords is the longest note sentence a reader takes in at once;
// longer ones are counted against a drafter.
const MaxSentenceWords = 40

// Checks count, over a set of drafts, the faults a clinician reading them
// would hold against the drafter, beyond ROUGE.
type Checks struct {
	Notes int
	// Assessment and Plan count notes whose assessment (or impression)
	// section, and plan (or recommendations) section, has a sentence; a
	// combined "assessment and plan" section counts for both.
	Assessment, Plan int
	// Long counts sentences over MaxSentenceWords words; FirstPerson
	// sentences in the first person ("I", "we", "my" …); NumberUnsupported
	// sentences with a number that, after normalisation, is not among the
	// numbers of the words they cite.
	Long, FirstPerson, NumberUnsupported int
}

func (c *Checks) add(o Checks) {
	c.Notes += o.Notes
	c.Assessment += o.Assessment
	c.Plan += o.Plan
	c.Long += o.Long
	c.FirstPerson += o.FirstPerson
	c.NumberUnsupported += o.NumberUnsupported
}

var (
	assessmentSection = regexp.MustCompile(`assessment|impression|what we found|diagnos`)
	planSection       = regexp.MustCompile(`plan|recommendation`)
	firstPersonWord   = regexp.MustCompile(`(?i)\b(i|i'm|i've|i'd|i'll|me|my|mine|myself|we|we're|we've|we'll|we'd|us|our|ours|ourselves)\b`)
	numberToken       = regexp.MustCompile(`\d+(?:\.\d+)?`)
)

// CheckDraft counts one draft's faults against the transcript it was
// drafted from.
func CheckDraft(t notes.Template, d note.Draft, transcript []note.Line) Checks {
	c := Checks{Notes: 1}
	byIndex := linesByIndex(transcript)
	hasA, hasP := false, false
	for _, s := range d.Sections {
		name := strings.ToLower(strings.ReplaceAll(s.ID, "_", " ") + " " + s.Title)
		if len(s.Sentences) > 0 {
			hasA = hasA || assessmentSection.MatchString(name)
			hasP = hasP || planSection.MatchString(name)
		}
		for _, sen := range s.Sentences {
			if len(strings.Fields(sen.Text)) > MaxSentenceWords {
				c.Long++
			}
			if firstPersonWord.MatchString(strings.ReplaceAll(sen.Text, "’", "'")) {
				c.FirstPerson++
			}
			if !numbersCited(sen, byIndex) {
				c.NumberUnsupported++
			}
		}
	}
	if hasA {
		c.Assessment++
	}
	if hasP {
		c.Plan++
	}
	return c
}

// numbersCited reports whether every number of the sentence is, after
// normalisation, a number of the utterances it cites.
func numbersCited(sen note.Sentence, byIndex map[int]note.Line) bool {
	want := numberToken.FindAllString(notes.Normalize(sen.Text), -1)
	if len(want) == 0 {
		return true
	}
	have := map[string]bool{}
	for _, n := range sen.Evidence {
		u := byIndex[n]
		for _, v := range numberToken.FindAllString(u.Text+" "+notes.Normalize(u.Text), -1) {
			have[v] = true
		}
	}
	for _, v := range want {
		if !have[v] {
			return false
		}
	}
	return true
}

// resultCue tells, in a template section that holds both examination and
// results (SOAP's Objective), the sentences that report a test's result.
var resultCue = regexp.MustCompile(`(?i)\b(x-?rays?|mri|ct|cat scan|ultrasound|echo\w*|ekg|ecg|electrocardiogram|labs?|laboratory|blood work|bloodwork|results?|a1c|hemoglobin|urinalysis|culture|biopsy|imaging|scan|panel|levels?|count|film|radiograph\w*|stress test|angiogram|colonoscopy|endoscopy|pathology)\b`)

// groupTexts joins the draft's sentences by the group each is scored in,
// one sentence a line, without section titles (headings are not content).
func groupTexts(t notes.Template, d note.Draft) map[Group]string {
	out := map[Group]string{}
	for i, s := range d.Sections {
		g := Other
		if i < len(t.Sections) {
			g = SectionGroup(t.Sections[i])
		}
		for _, sen := range s.Sentences {
			sg := g
			if g == Objective {
				sg = ObjectiveExam
				if resultCue.MatchString(sen.Text) {
					sg = ObjectiveResults
				}
			}
			out[sg] += sen.Text + "\n"
		}
	}
	return out
}

// Anchor is a published ACI-Bench figure a drafter is read against.
type Anchor struct {
	System string
	R1, R2 float64
}

// Anchors are the full-note ROUGE-1/2 F1 of systems in the ACI-Bench
// paper (Yim et al. 2023, its test set 1, not the split measured here):
// the paper's retrieval baseline, GPT-4 zero-shot and BART fine-tuned on
// the train split, the bounds an offline drafter sits between.
var Anchors = []Anchor{
	{"paper: retrieval baseline", 0.439, 0.176},
	{"paper: GPT-4 (zero-shot)", 0.518, 0.226},
	{"paper: BART (fine-tuned)", 0.535, 0.251},
}

// WriteQuality prints, for each sectioned system, the checks a clinician
// would make, then the published anchors: the second table of the eval.
func WriteQuality(w io.Writer, results []Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| drafter | notes | assessment present | plan present | sentences > %d words | first-person sentences | numbers not in cited words |\n", MaxSentenceWords)
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		c := r.Checks
		if len(r.Groups) == 0 || c.Notes == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f%% | %.0f%% | %d | %d | %d |\n", r.System, c.Notes,
			100*float64(c.Assessment)/float64(c.Notes), 100*float64(c.Plan)/float64(c.Notes), c.Long, c.FirstPerson, c.NumberUnsupported)
	}
	fmt.Fprintf(&b, "\n| published (ACI-Bench paper, test set 1) | ROUGE-1 | ROUGE-2 |\n|---|---|---|\n")
	for _, a := range Anchors {
		fmt.Fprintf(&b, "| %s | %.3f | %.3f |\n", a.System, a.R1, a.R2)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
