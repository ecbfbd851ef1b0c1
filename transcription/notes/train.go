package notes

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/scribegate/scribegate/review/note"
)

// TrainingConsultation is one consultation the drafter's models learn
// from: its transcript and its reference note, by part.
type TrainingConsultation struct {
	Transcript []note.Line
	// Reference maps "subjective", "exam", "results" and "assessment_plan"
	// to those parts of the reference note.
	Reference map[string]string
}

// TrainModels builds the drafter's two models from consultations (ACI-Bench's
// train split; never the splits it is measured on) and returns them in the
// text form the package embeds (model/boundary.tsv, model/sections.tsv).
// It is deterministic: the same consultations give the same bytes.
func TrainModels(cs []TrainingConsultation) (boundary, sections string) {
	boundary = trainBoundaries(cs)
	bm := parseBoundaryModel(boundary)
	return boundary, trainSections(cs, bm)
}

// trainBoundaries learns, from the turns that have punctuation, how likely
// each word is to end a sentence, or to start one.
func trainBoundaries(cs []TrainingConsultation) string {
	type counts struct{ b, n float64 }
	left, right := map[string]*counts{}, map[string]*counts{}
	var nb, nn float64
	add := func(m map[string]*counts, w string, b bool) {
		c := m[w]
		if c == nil {
			c = &counts{}
			m[w] = c
		}
		if b {
			c.b++
		} else {
			c.n++
		}
	}
	for _, c := range cs {
		for _, u := range c.Transcript {
			text := cleanSpacing(u.Text)
			if !hasSentenceEnd(text) {
				continue
			}
			fs := strings.Fields(text)
			for i := 0; i+1 < len(fs); i++ {
				b := strings.ContainsAny(fs[i][len(fs[i])-1:], ".?!")
				l := boundaryWord(fs[i])
				if strings.HasSuffix(fs[i], ",") {
					l += ","
				}
				add(left, l, b)
				add(right, boundaryWord(fs[i+1]), b)
				if b {
					nb++
				} else {
					nn++
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# scribegate sentence-boundary model: naive Bayes log-likelihood ratios (boundary vs none)\n")
	fmt.Fprintf(&b, "# of the word before (L) and after (R) a gap. Trained on the punctuated turns of ACI-Bench's\n")
	fmt.Fprintf(&b, "# train split (CC BY 4.0, Yim et al. 2023) by: go run ./transcription/notes/train\n")
	fmt.Fprintf(&b, "prior\t%.3f\n", math.Log(nb/nn))
	write := func(side string, m map[string]*counts) {
		v := float64(len(m))
		for _, w := range slices.Sorted(maps.Keys(m)) {
			c := m[w]
			if c.b+c.n < minBoundaryCount || w == "" {
				continue
			}
			llr := math.Log((c.b+1)/(nb+v)) - math.Log((c.n+1)/(nn+v))
			if math.Abs(llr) < 0.05 {
				continue
			}
			fmt.Fprintf(&b, "%s\t%s\t%.3f\n", side, w, llr)
		}
	}
	write("L", left)
	write("R", right)
	return b.String()
}

// minBoundaryCount is how often a word must be seen beside a gap to be
// kept in the boundary model.
const minBoundaryCount = 4

// trainSections labels every statement of each transcript with the part
// of the reference note it overlaps most (or none), and fits the naive
// Bayes section classifier to those labels, over transcripts with and
// without speaker tags.
func trainSections(cs []TrainingConsultation, bm *boundaryModel) string {
	var docs [numClasses]float64
	counts := map[string]*[numClasses]float64{}
	var total [numClasses]float64
	for _, c := range cs {
		refs := referenceSentences(c.Reference)
		for _, speakers := range []bool{true, false} {
			var as []utteranceAnalysis
			for _, u := range c.Transcript {
				if !speakers {
					u.Speaker = ""
				}
				as = append(as, analyseWith(models{boundaries: bm}, u, previous(as), false))
			}
			for _, a := range as {
				for _, sa := range a.sents {
					if !sa.kept {
						continue
					}
					label := alignStatement(sa.body, refs)
					docs[label]++
					for _, f := range statementFeatures(sa.body, a.role, sa.phase, a.u.Index) {
						fc := counts[f]
						if fc == nil {
							fc = &[numClasses]float64{}
							counts[f] = fc
						}
						fc[label]++
						total[label]++
					}
				}
			}
		}
	}
	keys := slices.Sorted(maps.Keys(counts))
	kept := keys[:0]
	for _, f := range keys {
		n := 0.0
		for _, v := range counts[f] {
			n += v
		}
		if n >= minFeatureCount {
			kept = append(kept, f)
		}
	}
	v := float64(len(kept))
	var b strings.Builder
	fmt.Fprintf(&b, "# scribegate section classifier: multinomial naive Bayes, per-class log probabilities.\n")
	fmt.Fprintf(&b, "# Trained on ACI-Bench's train split (CC BY 4.0, Yim et al. 2023), each transcript sentence\n")
	fmt.Fprintf(&b, "# labelled with the reference note part it overlaps most, by: go run ./transcription/notes/train\n")
	fmt.Fprintf(&b, "!classes\t%s\n", strings.Join(classNames[:], "\t"))
	ndocs := 0.0
	for _, d := range docs {
		ndocs += d
	}
	row := func(name string, f func(c statementClass) float64) {
		b.WriteString(name)
		for c := statementClass(0); c < numClasses; c++ {
			fmt.Fprintf(&b, "\t%.3f", f(c))
		}
		b.WriteByte('\n')
	}
	row("!prior", func(c statementClass) float64 { return math.Log((docs[c] + 1) / (ndocs + float64(numClasses))) })
	for _, f := range kept {
		fc := counts[f]
		row(f, func(c statementClass) float64 {
			return math.Log((fc[c] + featureSmoothing) / (total[c] + featureSmoothing*v))
		})
	}
	return b.String()
}

// minFeatureCount is how often a feature must occur to be kept, and
// featureSmoothing the classifier's additive smoothing.
const (
	minFeatureCount  = 3
	featureSmoothing = 0.5
)

// refSentence is one sentence of a reference note part, as content words.
type refSentence struct {
	class statementClass
	words map[string]bool
}

var referenceParts = map[string]statementClass{
	"subjective": classSubjective, "exam": classExam, "results": classResults, "assessment_plan": classAssessmentPlan,
}

func referenceSentences(ref map[string]string) []refSentence {
	var out []refSentence
	for _, part := range slices.Sorted(maps.Keys(ref)) {
		c, ok := referenceParts[part]
		if !ok {
			continue
		}
		for _, line := range strings.Split(ref[part], "\n") {
			for _, s := range strings.Split(line, ". ") {
				ws := contentWords(Normalize(s))
				if len(ws) > 0 {
					out = append(out, refSentence{c, ws})
				}
			}
		}
	}
	return out
}

// alignStatement labels a statement with the part of the reference note
// holding the sentence that shares most of its content words, when that
// sentence shares at least two and most of them; else none.
func alignStatement(body string, refs []refSentence) statementClass {
	ws := contentWords(Normalize(body))
	if len(ws) < 2 {
		return classNone
	}
	best, bestScore := classNone, 0.0
	for _, r := range refs {
		n := 0
		for w := range ws {
			if r.words[w] {
				n++
			}
		}
		sc := float64(n) / float64(len(ws))
		if n >= 2 && sc > bestScore {
			best, bestScore = r.class, sc
		}
	}
	if bestScore < alignMinOverlap {
		return classNone
	}
	return best
}

// alignMinOverlap is the share of a statement's content words a reference
// sentence must hold for the statement to be labelled with its part.
const alignMinOverlap = 0.5

// contentWords are the words of s that carry content, crudely stemmed.
func contentWords(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range words(s) {
		if alignStopWords[w] || len(w) < 2 {
			continue
		}
		out[strings.TrimSuffix(w, "s")] = true
	}
	return out
}

var alignStopWords = setOf(`the a an and or but of to in on at for with from by as is are was were be been being am
it its it's this that these those there here i i'm i've i'll me my we we're we'll our us you you're your yours he
she his her him they them their have has had do does did done not no yes yeah okay ok so just like really very
well right um uh know think going get got go see say said tell told what how when where why which who any some
about can could will would should may might also then than all one more much little bit lot kind sort thing
things time now back up out if because gonna let's let good great sure oh mm hmm patient doctor today`)
