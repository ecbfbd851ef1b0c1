// Package enginetest is what the stand-in speech engines of the gateway's
// tests share (the gateway's own and the web page's), so that each says
// its words the same way a real engine does.
package enginetest

import (
	"strings"
	"time"

	"github.com/scribegate/scribegate/transcription"
)

// Spoken is text as an engine hears it in u: its words spread evenly over
// the utterance, each and all with confidence 0.9.
func Spoken(u transcription.Utterance, text string) transcription.Transcript {
	words := strings.Fields(text)
	t := transcription.Transcript{Text: text, Confidence: 0.9}
	step := u.Duration() / time.Duration(len(words))
	for i, w := range words {
		start := u.Start + time.Duration(i)*step
		t.Words = append(t.Words, transcription.Word{Word: w, Start: start, End: start + step, Confidence: 0.9})
	}
	return t
}
