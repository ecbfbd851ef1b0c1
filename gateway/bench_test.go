package gateway

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/transcription"
)

// scriptEngine stands in for a recogniser: utterance i says line i of a
// real consultation transcript (cycling), so the drafter works on realistic
// speech at no engine cost.
type scriptEngine struct{ lines []string }

func (e scriptEngine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	line := e.lines[u.Index%len(e.lines)]
	return transcription.Transcript{Text: line, Confidence: 0.9,
		Words: transcription.EstimateWords(line, u.Start, u.Start+u.Duration())}, nil
}

// BenchmarkCloseStreamToNoteReady measures the gateway's work from
// CloseStream to NoteReady for a 20-minute consultation (240 utterances of
// a real dialogue) with the offline rule drafter: flushing the stream, the
// final draft with its support check, and storing it. The consultation is
// streamed as fast as the gateway takes it (not timed) and every final
// result is received before the clock starts.
func BenchmarkCloseStreamToNoteReady(b *testing.B) {
	raw, err := os.ReadFile("../testdata/consultations/chf-followup.txt")
	if err != nil {
		b.Skip(err)
	}
	var lines []string
	for l := range strings.SplitSeq(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, strings.NewReplacer("[doctor] ", "", "[patient] ", "").Replace(l))
		}
	}
	const utterances = 240 // 4 s of speech and 1 s of pause each: 20 minutes
	var one []byte
	for i := range 16000 * 4 {
		v := int16(8000 * math.Sin(2*math.Pi*300*float64(i)/16000))
		one = append(one, byte(v), byte(uint16(v)>>8))
	}
	one = append(one, make([]byte, 16000*2)...)

	e := newEnv(b, func(o *Options) {
		o.Engine = scriptEngine{lines}
		o.Limits.LiveDraftInterval = -1 // the benchmark measures the final draft
	})
	tok := token(b, "dr-a", "c1", "clinician")
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		c, _, err := websocket.DefaultDialer.Dial(e.wsURL("encoding=linear16&sample_rate=16000&patient=p-bench"),
			map[string][]string{"Authorization": {"Bearer " + tok}})
		if err != nil {
			b.Fatal(err)
		}
		finals := make(chan struct{}, utterances)
		ready := make(chan struct{})
		go func() {
			defer close(ready)
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					return
				}
				var h struct {
					Type    string `json:"type"`
					IsFinal bool   `json:"is_final"`
				}
				json.Unmarshal(m, &h)
				switch {
				case h.Type == "Results" && h.IsFinal:
					finals <- struct{}{}
				case h.Type == "NoteReady":
					return
				}
			}
		}()
		for range utterances {
			for off := 0; off < len(one); off += 8000 {
				if err := c.WriteMessage(websocket.BinaryMessage, one[off:min(off+8000, len(one))]); err != nil {
					b.Fatal(err)
				}
			}
		}
		for range utterances {
			<-finals
		}
		b.StartTimer()
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"CloseStream"}`))
		<-ready
		b.StopTimer()
		c.Close()
	}
}
