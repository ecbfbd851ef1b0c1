package review

import (
	"strings"
	"time"

	"github.com/scribegate/scribegate/review/note"
)

// Rollup is what the rollout figures need of a note's life (package
// review/rollout), kept up to date on the note at every transition so
// that the figures are read from one summary row per note (Summary),
// which the store writes with the note, rather than rebuilt from every
// note's audit trail at each query.
type Rollup struct {
	// EndedAt is when the note first waited for review (its draft was
	// ready): the end of the visit, from which turnaround is counted.
	EndedAt time.Time `json:"ended_at,omitzero"`
	// ConsultMS is the length of the consultation: the end of its last
	// utterance, in milliseconds of audio.
	ConsultMS int64 `json:"consult_ms,omitempty"`
	// ApprovedAt, PushedAt and RejectedAt are the first approval, the
	// first document filed and the rejection.
	ApprovedAt time.Time `json:"approved_at,omitzero"`
	PushedAt   time.Time `json:"pushed_at,omitzero"`
	RejectedAt time.Time `json:"rejected_at,omitzero"`
	// LastAt is the time of the note's latest transition.
	LastAt time.Time `json:"last_at,omitzero"`
	// DraftSentences and DraftWords measure the first draft.
	DraftSentences int `json:"draft_sentences,omitempty"`
	DraftWords     int `json:"draft_words,omitempty"`
	// Changed, Added and Removed count the sentences the approved version
	// changed, added and removed against the first draft; WordEdits is
	// the word-level edit distance between the two. Set at each approval
	// (the latest approved version counts).
	Changed   int `json:"changed,omitempty"`
	Added     int `json:"added,omitempty"`
	Removed   int `json:"removed,omitempty"`
	WordEdits int `json:"word_edits,omitempty"`
	// FlagsRaised counts the support check's flags on the first draft and
	// on the sentences edits changed or added; FlagsAcked the flags the
	// latest approval acknowledged.
	FlagsRaised int `json:"flags_raised,omitempty"`
	FlagsAcked  int `json:"flags_acked,omitempty"`
	// Failures are the failed push attempts, oldest first.
	Failures []PushFailure `json:"push_failures,omitempty"`
	// DraftUnknown is set on the rollup of a note edited before rollups
	// were kept (RebuildRollup): its first draft is gone, so it has no
	// edit figures.
	DraftUnknown bool `json:"draft_unknown,omitempty"`
	// Drafted is the first draft's text (sections and sentence text
	// only), kept so that an approval can be measured against it. It goes
	// with the note (and is deleted with it), never into the Summary.
	Drafted []note.Section `json:"drafted,omitempty"`
}

// PushFailure is one failed push attempt.
type PushFailure struct {
	Connector string `json:"connector"`
	// Reason is a stable code: FailTransient, FailPermanent or FailGaveUp.
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Push failure reasons.
const (
	// FailTransient is an attempt that failed and was retried.
	FailTransient = "transient"
	// FailPermanent is a push the EHR refused for good.
	FailPermanent = "permanent"
	// FailGaveUp is a push given up after the last attempt failed.
	FailGaveUp = "gave_up"
)

// track brings n.Rollup up to date with the audit entries of a change
// just made to n (n as it is after the change).
func track(n *Note, es []AuditEntry) {
	if len(es) == 0 {
		return
	}
	if n.Rollup == nil {
		n.Rollup = &Rollup{}
	}
	r := n.Rollup
	for _, e := range es {
		if e.At.After(r.LastAt) {
			r.LastAt = e.At
		}
		switch e.Action {
		case ActionCreate, ActionDraft:
			if e.ToState == StatePendingReview && r.EndedAt.IsZero() {
				r.EndedAt = e.At
				r.Drafted = textOnly(n.Draft.Sections)
				r.DraftSentences, r.DraftWords = 0, 0
				for _, s := range r.Drafted {
					r.DraftSentences += len(s.Sentences)
					for _, sen := range s.Sentences {
						r.DraftWords += len(strings.Fields(sen.Text))
					}
				}
				r.FlagsRaised += len(OpenFlags(n.Draft))
				for _, u := range n.Transcript {
					r.ConsultMS = max(r.ConsultMS, u.End.Milliseconds())
				}
			}
		case ActionEdit, ActionAmend:
			for _, c := range e.Changes {
				if c.Op == "removed" {
					continue
				}
				if sen, ok := sentenceAt(n.Draft.Sections, c.Section, c.Index); ok {
					r.FlagsRaised += len(sen.Flags)
				}
			}
		case ActionApprove:
			if r.ApprovedAt.IsZero() {
				r.ApprovedAt = e.At
			}
			r.FlagsAcked = len(e.AcknowledgedFlags)
			if r.DraftUnknown {
				continue
			}
			r.Changed, r.Added, r.Removed = 0, 0, 0
			for _, c := range DiffSections(r.Drafted, n.Draft.Sections) {
				switch c.Op {
				case "changed":
					r.Changed++
				case "added":
					r.Added++
				case "removed":
					r.Removed++
				}
			}
			r.WordEdits = WordEditDistance(words(r.Drafted), words(n.Draft.Sections))
		case ActionReject:
			if r.RejectedAt.IsZero() {
				r.RejectedAt = e.At
			}
		case ActionPushOK:
			if r.PushedAt.IsZero() {
				r.PushedAt = e.At
			}
		case ActionPushRetry:
			r.Failures = append(r.Failures, PushFailure{Connector: n.Connector, Reason: FailTransient, At: e.At})
		case ActionPushFailed:
			reason := FailGaveUp
			if strings.HasPrefix(e.Detail, "permanent") {
				reason = FailPermanent
			}
			r.Failures = append(r.Failures, PushFailure{Connector: n.Connector, Reason: reason, At: e.At})
		}
	}
}

// textOnly copies sections with their sentences' text alone.
func textOnly(secs []note.Section) []note.Section {
	out := make([]note.Section, len(secs))
	for i, s := range secs {
		out[i] = note.Section{ID: s.ID, Sentences: make([]note.Sentence, len(s.Sentences))}
		for j, sen := range s.Sentences {
			out[i].Sentences[j] = note.Sentence{Text: sen.Text}
		}
	}
	return out
}

func sentenceAt(secs []note.Section, id string, i int) (note.Sentence, bool) {
	for _, s := range secs {
		if s.ID == id && i >= 0 && i < len(s.Sentences) {
			return s.Sentences[i], true
		}
	}
	return note.Sentence{}, false
}

// words lists the words of the sections in order, sentence after sentence.
func words(secs []note.Section) []string {
	var out []string
	for _, s := range secs {
		for _, sen := range s.Sentences {
			out = append(out, strings.Fields(sen.Text)...)
		}
	}
	return out
}

// WordEditDistance is the Levenshtein distance between two word lists:
// the fewest words inserted, deleted or replaced to turn a into b.
func WordEditDistance(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
