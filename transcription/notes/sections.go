package notes

import (
	_ "embed"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// The section classifier says which part of a note a statement of the
// conversation belongs to, or that it belongs to none: a multinomial naive
// Bayes model over the statement's words and word pairs, who said it and
// where the consultation is (history, examination, results, assessment and
// plan), trained on ACI-Bench's train split, each transcript sentence
// labelled with the reference note section it overlaps most
// (go run ./transcription/notes/train). Its weights are embedded.

// statementClass is what the section classifier tells apart.
type statementClass int

const (
	classNone statementClass = iota
	classSubjective
	classExam
	classResults
	classAssessmentPlan
	numClasses
)

var classNames = [numClasses]string{"none", "subjective", "exam", "results", "assessment_plan"}

//go:embed model/boundary.tsv
var boundaryModelText string

//go:embed model/sections.tsv
var sectionModelText string

// The embedded models, parsed once at start-up and read-only after.
var (
	speechBoundaries = parseBoundaryModel(boundaryModelText)
	sectionModel     = parseSectionModel(sectionModelText)
)

// sectionClassifier is a multinomial naive Bayes model: log priors, and
// per feature its (smoothed) log probability under each class.
type sectionClassifier struct {
	prior    [numClasses]float64
	features map[string][numClasses]float64
}

// posterior returns the class probabilities of a statement's features.
func (m *sectionClassifier) posterior(features []string) [numClasses]float64 {
	var lp [numClasses]float64
	lp = m.prior
	for _, f := range features {
		w, ok := m.features[f]
		if !ok {
			continue // a feature never seen in training says nothing
		}
		for c := range lp {
			lp[c] += w[c]
		}
	}
	best := lp[0]
	for _, v := range lp[1:] {
		best = max(best, v)
	}
	var p [numClasses]float64
	sum := 0.0
	for c, v := range lp {
		p[c] = math.Exp(v - best)
		sum += p[c]
	}
	for c := range p {
		p[c] /= sum
	}
	return p
}

// likeliestPart is the part of the note a statement's posterior favours
// most, leaving "none" aside: where the statement goes once it is kept.
func likeliestPart(p [numClasses]float64) statementClass {
	best := classSubjective
	for c := classExam; c < numClasses; c++ {
		if p[c] > p[best] {
			best = c
		}
	}
	return best
}

// phase is where a consultation is, read from the clinician's words: it
// tells the classifier that "it's tender here" comes during the
// examination and "we'll get an x-ray" during the plan.
type phase uint8

const (
	phaseHistory phase = iota
	phaseExam
	phaseResults
	phasePlan
)

var phaseNames = [...]string{"history", "exam", "results", "plan"}

var (
	phaseExamCue    = regexp.MustCompile(`\b(physical exam\w*|on exam\w*|examin\w+|take a (quick )?look|hop up|lie back|listen to your|press (on|here)|push on|your vitals|vital signs)\b`)
	phaseResultsCue = regexp.MustCompile(`\b(results?|x-?rays?|labs?|blood work|bloodwork|mri|ct scan|cat scan|echo\w*|ekg|ecg|a1c|ultrasound|came back)\b`)
	phasePlanCue    = regexp.MustCompile(`\b(assessment|my plan|the plan|impression|diagnos\w*|so for your|for your \w+ (i|we)|going to (order|prescribe|start|refer|send|schedule)|i want you to|recommend)\b`)
)

// next is the phase after a clinician (or unknown speaker) says s.
func (p phase) next(s string, r role) phase {
	if r == rolePatient {
		return p
	}
	switch {
	case phasePlanCue.MatchString(s):
		return phasePlan
	case phaseResultsCue.MatchString(s) && p != phasePlan:
		return phaseResults
	case phaseExamCue.MatchString(s) && p != phasePlan:
		return phaseExam
	}
	return p
}

// statementFeatures are what the section classifier reads of a cleaned,
// lower-case sentence: its words and word pairs, the speaker's role, the
// consultation's phase, and how far into the consultation it is.
func statementFeatures(body string, r role, ph phase, index int) []string {
	ws := words(body)
	out := make([]string, 0, 2*len(ws)+3)
	for i, w := range ws {
		if w[0] >= '0' && w[0] <= '9' {
			w = "<num>"
		}
		out = append(out, w)
		if i > 0 {
			prev := ws[i-1]
			if prev[0] >= '0' && prev[0] <= '9' {
				prev = "<num>"
			}
			out = append(out, prev+"_"+w)
		}
	}
	bucket := 0
	for _, b := range []int{10, 25, 50, 80} {
		if index >= b {
			bucket++
		}
	}
	return append(out, "@role"+strconv.Itoa(int(r)), "@phase_"+phaseNames[ph], "@at"+strconv.Itoa(bucket))
}

// parseSectionModel reads the model's text form, tab-separated: a
// "!classes" line naming the classes in statementClass order, a "!prior"
// line of per-class log probabilities, then one line per
// feature: the feature and its per-class log probabilities. It panics on a
// malformed model (embedded: a build defect the package's tests catch).
func parseSectionModel(data string) *sectionClassifier {
	m := &sectionClassifier{features: map[string][numClasses]float64{}}
	bad := func(line string) {
		panic("notes: malformed section model line " + strconv.Quote(line))
	}
	for _, line := range strings.Split(data, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != int(numClasses)+1 {
			bad(line)
		}
		if f[0] == "!classes" {
			if strings.Join(f[1:], " ") != strings.Join(classNames[:], " ") {
				bad(line)
			}
			continue
		}
		var v [numClasses]float64
		for c := range v {
			x, err := strconv.ParseFloat(f[c+1], 64)
			if err != nil {
				bad(line)
			}
			v[c] = x
		}
		switch f[0] {
		case "!prior":
			m.prior = v
		default:
			m.features[f[0]] = v
		}
	}
	return m
}
