package notes

import (
	"context"
	"sync"

	"github.com/scribegate/scribegate/review/note"
)

// LiveRuleDrafter is Checked(RuleDrafter{}) for one transcript that grows,
// as a streaming consultation's does. A live draft is redrafted every few
// seconds from the whole transcript so far; this drafter keeps what it read
// from each utterance and the support check of each sentence, so a redraft
// reads only the utterances added since the last one and the cost of a
// draft no longer grows with everything said before.
//
// Its drafts are exactly those of Checked(RuleDrafter{}) for the same
// template and transcript, whatever it is given: when an utterance it read
// has changed, or the transcript is shorter, it reads again from there.
// Hold one per session (the zero value is ready to use); it is safe for
// concurrent use, but drafts one at a time.
type LiveRuleDrafter struct {
	mu    sync.Mutex
	plain bool // the template language the analyses were read for
	as    []utteranceAnalysis
	// byIndex is the transcript read so far by note.Line.Index, as Check
	// sees it; flags caches each sentence's support check against it.
	byIndex map[int]note.Line
	flags   map[flagKey][]string
}

// flagKey names a sentence of a rule draft: its text and the one or two
// utterances it cites.
type flagKey struct {
	text string
	ev   [2]int
	n    int
}

// Draft implements Drafter.
func (d *LiveRuleDrafter) Draft(ctx context.Context, t Template, transcript []note.Line) (note.Draft, error) {
	if err := ctx.Err(); err != nil {
		return note.Draft{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	l := newLayout(t)
	keep := 0
	if l.plain == d.plain {
		for keep < len(d.as) && keep < len(transcript) && d.as[keep].u == transcript[keep] {
			keep++
		}
	}
	if keep < len(d.as) {
		clear(d.as[keep:])
		d.as = d.as[:keep]
		d.byIndex, d.flags = nil, nil
	}
	d.plain = l.plain
	if d.byIndex == nil {
		d.byIndex = make(map[int]note.Line, len(transcript))
		for _, a := range d.as {
			d.byIndex[a.u.Index] = a.u
		}
	}
	if d.flags == nil {
		d.flags = map[flagKey][]string{}
	}
	for n := keep; n < len(transcript); n++ {
		if (n-keep)%64 == 0 {
			if err := ctx.Err(); err != nil {
				return note.Draft{}, err
			}
		}
		u := transcript[n]
		d.as = append(d.as, analyse(u, previous(d.as), l.plain))
		if _, ok := d.byIndex[u.Index]; ok {
			// A second utterance with an index: Check reads the later one,
			// so sentences citing it must be checked again.
			clear(d.flags)
		}
		d.byIndex[u.Index] = u
	}
	out := assemble(t, l, d.as)
	cites := citations{d.byIndex, map[string]*claims{}}
	for i := range out.Sections {
		for j := range out.Sections[i].Sentences {
			sen := &out.Sections[i].Sentences[j]
			if len(sen.Evidence) > len(flagKey{}.ev) {
				sen.Flags = checkFlags(*sen, cites)
				continue
			}
			k := flagKey{text: sen.Text, n: len(sen.Evidence)}
			copy(k.ev[:], sen.Evidence)
			flags, ok := d.flags[k]
			if !ok {
				flags = checkFlags(*sen, cites)
				d.flags[k] = flags
			}
			if flags != nil {
				sen.Flags = append([]string(nil), flags...)
			}
		}
	}
	return out, nil
}
