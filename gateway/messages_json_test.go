package gateway

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"github.com/scribegate/scribegate/transcription"
)

// encoderJSON is msg as the connection writer encoded it before
// appendJSON: a default json.Encoder.
func encoderJSON(msg any) ([]byte, error) {
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(msg)
	return buf.Bytes(), err
}

// checkSameJSON fails t unless encodeMessage writes msg exactly as the
// Encoder does, or fails where it fails.
func checkSameJSON(t *testing.T, msg any) {
	t.Helper()
	want, wantErr := encoderJSON(msg)
	var buf bytes.Buffer
	buf.WriteString("prefix") // appendJSON appends; it must not touch what is there
	err := encodeMessage(&buf, json.NewEncoder(&buf), msg)
	got, ok := bytes.CutPrefix(buf.Bytes(), []byte("prefix"))
	if !ok {
		t.Fatalf("encodeMessage(%#v) overwrote the buffer: %q", msg, buf.Bytes())
	}
	if (err != nil) != (wantErr != nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("encodeMessage(%#v) error = %v, Encoder's = %v", msg, err, wantErr)
	}
	if wantErr != nil {
		if len(got) != 0 {
			t.Fatalf("encodeMessage(%#v) failed but wrote %q", msg, got)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeMessage(%#v)\n got %s\nwant %s", msg, got, want)
	}
}

func TestMessagesJSONAppenders(t *testing.T) {
	// The per-utterance messages skip reflection; others go on through it.
	for _, msg := range []any{resultsMsg{}, speechStartedMsg{}, utteranceEndMsg{}} {
		if _, ok := msg.(jsonAppender); !ok {
			t.Errorf("%T is not a jsonAppender", msg)
		}
	}
}

// trickyStrings are strings encoding/json escapes, or might be thought to.
var trickyStrings = []string{
	"", "plain words", `quote " backslash \ slash /`, "<b>&amp;</b>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "line\u2028sep\u2029para", "é ü 中文 🎤", "bad \xff utf8 \xc3", "\xed\xa0\x80 surrogate",
	"trunc \xe2\x80", "\u2028", "\ufffd real", "'single' `back`", "</script>",
}

// trickyFloats are floats at the edges of encoding/json's formats.
var trickyFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 0.96, 1.0 / 3, 12.345, 1e-6, 9.99999e-7, 1e-7, 1e-9, 5e-324,
	1e20, 1e21, 123456789012345678901, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
	float64(float32(0.1)), 1e-320, 2.5e-7,
}

func TestResultsJSONTable(t *testing.T) {
	base := func() resultsMsg {
		return toResults("5f0c2a4e-req", transcription.Result{
			Start: 1500 * time.Millisecond, Duration: 2 * time.Second, SpeechFinal: true,
			Transcript: transcription.Transcript{Text: "Hello, world.", Confidence: 0.93, Words: []transcription.Word{
				{Word: "Hello,", Start: 1500 * time.Millisecond, End: 2 * time.Second, Confidence: 0.9},
				{Word: "world.", Start: 2100 * time.Millisecond, End: 3500 * time.Millisecond, Confidence: 0.97},
			}},
		}, true)
	}
	msgs := []resultsMsg{base(), {}, toResults("", transcription.Result{}, false)}
	for _, s := range trickyStrings {
		m := base()
		m.Type, m.Metadata.RequestID, m.Metadata.ModelUUID = s, s, s
		m.Metadata.ModelInfo = modelInfo{Name: s, Version: s, Arch: s}
		m.Channel.Alternatives[0].Transcript = s
		m.Channel.Alternatives[0].Words[1].Word = s
		m.Channel.Alternatives[0].Words[1].PunctuatedWord = s
		msgs = append(msgs, m)
	}
	for _, f := range trickyFloats {
		m := base()
		m.Duration, m.Start = f, -f
		m.Channel.Alternatives[0].Confidence = f
		w := &m.Channel.Alternatives[0].Words[0]
		w.Start, w.End, w.Confidence = f, f/3, -f*7
		msgs = append(msgs, m)
	}
	// encoding/json fails on NaN and infinities wherever they are.
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for _, set := range []func(*resultsMsg){
			func(m *resultsMsg) { m.Duration = f },
			func(m *resultsMsg) { m.Start = f },
			func(m *resultsMsg) { m.Channel.Alternatives[0].Confidence = f },
			func(m *resultsMsg) { m.Channel.Alternatives[0].Words[1].Start = f },
			func(m *resultsMsg) { m.Channel.Alternatives[0].Words[1].End = f },
			func(m *resultsMsg) { m.Channel.Alternatives[0].Words[1].Confidence = f },
		} {
			m := base()
			set(&m)
			msgs = append(msgs, m)
		}
	}
	// Slices: nil, empty and several.
	m := base()
	m.ChannelIndex = nil
	m.Channel.Alternatives[0].Words = nil
	msgs = append(msgs, m)
	m = base()
	m.ChannelIndex = []int{}
	m.Channel.Alternatives = []alternative{{Words: []wireWord{}}, {}, base().Channel.Alternatives[0]}
	msgs = append(msgs, m)
	m = base()
	m.ChannelIndex = []int{-1, 0, math.MaxInt, math.MinInt}
	m.Channel.Alternatives = []alternative{}
	msgs = append(msgs, m)
	m = base()
	m.IsFinal, m.SpeechFinal, m.FromFinalize = false, true, true
	msgs = append(msgs, m)

	for _, m := range msgs {
		checkSameJSON(t, m)
	}
}

func TestEventsJSONTable(t *testing.T) {
	var msgs []any
	for _, ch := range [][]int{nil, {}, {0}, {0, 1}} {
		for _, f := range append(trickyFloats, math.NaN(), math.Inf(-1)) {
			msgs = append(msgs, speechStartedMsg{Type: "SpeechStarted", Channel: ch, Timestamp: f},
				utteranceEndMsg{Type: "UtteranceEnd", Channel: ch, LastWordEnd: f})
		}
	}
	for _, s := range trickyStrings {
		msgs = append(msgs, speechStartedMsg{Type: s}, utteranceEndMsg{Type: s})
	}
	// A message without appendJSON goes through the Encoder as before.
	msgs = append(msgs, errorMsg{Type: "Error", Code: "x", Description: "<&>"})
	for _, m := range msgs {
		checkSameJSON(t, m)
	}
}

// TestMessagesJSONEveryField fills every field of each message, nested
// ones too, with random values by reflection, so that a field added to a
// struct and not to its appendJSON fails here.
func TestMessagesJSONEveryField(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	for _, typ := range []reflect.Type{reflect.TypeFor[resultsMsg](), reflect.TypeFor[speechStartedMsg](), reflect.TypeFor[utteranceEndMsg]()} {
		for range 200 {
			v, ok := quick.Value(typ, rnd)
			if !ok {
				t.Fatalf("quick.Value(%v) failed", typ)
			}
			// quick's floats are all of magnitude near MaxFloat64: scale
			// some into the range of times and confidences.
			scaleFloats(v, rnd)
			checkSameJSON(t, v.Interface())
		}
	}
}

// scaleFloats brings the float64s in v, which quick.Value made, down to
// everyday sizes, leaving one in ten as they are.
func scaleFloats(v reflect.Value, rnd *rand.Rand) {
	switch v.Kind() {
	case reflect.Float64:
		if rnd.Intn(10) > 0 {
			v.SetFloat(math.Ldexp(v.Float(), -1054+rnd.Intn(80)))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			scaleFloats(v.Field(i), rnd)
		}
	case reflect.Slice:
		for i := range v.Len() {
			scaleFloats(v.Index(i), rnd)
		}
	}
}

func FuzzResultsJSON(f *testing.F) {
	f.Add("Results", "Hello, world.", "Hello, world.", "req-1", 1.5, 2.0, 0.93, uint8(0))
	f.Add("<&>", "a\u2028b\xff", "\x00 \t </w> \xe2\x80", "\"\\", 1e-7, 1e21, -0.0, uint8(0xff))
	f.Add("Results", "", "", "", math.NaN(), 0.0, 1.0, uint8(3))
	f.Fuzz(func(t *testing.T, typ, text, words, reqID string, start, dur, conf float64, bits uint8) {
		var ws []wireWord
		if bits&1 == 0 {
			ws = []wireWord{}
		}
		for i, w := range strings.Split(words, " ") {
			if w == "" && len(words) > 0 {
				continue
			}
			at := start + float64(i)*dur/7
			ws = append(ws, wireWord{Word: plainWord(w), Start: at, End: at + dur/9, Confidence: conf * float64(i), PunctuatedWord: w})
		}
		alts := []alternative{{Transcript: text, Confidence: conf, Words: ws}}
		switch bits >> 6 {
		case 1:
			alts = nil
		case 2:
			alts = append(alts, alternative{Transcript: words, Confidence: -conf})
		}
		var ch []int
		if bits&2 == 0 {
			ch = []int{0, len(words), -int(bits)}
		}
		m := resultsMsg{
			Type: typ, ChannelIndex: ch, Duration: dur, Start: start,
			IsFinal: bits&4 != 0, SpeechFinal: bits&8 != 0, FromFinalize: bits&16 != 0,
			Channel:  resultsChannel{Alternatives: alts},
			Metadata: resultsMeta{RequestID: reqID, ModelInfo: modelInfo{Name: text, Version: typ, Arch: words}, ModelUUID: reqID},
		}
		// json.Marshal and a newline is what the Encoder writes.
		want, wantErr := json.Marshal(m)
		got, err := m.appendJSON(nil)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("appendJSON error = %v, json.Marshal's = %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, append(want, '\n')) {
			t.Fatalf("appendJSON\n got %s\nwant %s", got, want)
		}
		checkSameJSON(t, m)
	})
}

// BenchmarkResultsJSON encodes a final Results of 20 words as the
// connection writer does, by reflection (Encoder) and by appendJSON.
func BenchmarkResultsJSON(b *testing.B) {
	r := transcription.Result{Start: 93 * time.Second, Duration: 6200 * time.Millisecond, SpeechFinal: true}
	text := "The patient reports intermittent chest pain, worse on exertion, relieved by rest; no shortness of breath or palpitations."
	for i, w := range strings.Fields(text) {
		at := r.Start + time.Duration(i)*300*time.Millisecond
		r.Transcript.Words = append(r.Transcript.Words, transcription.Word{Word: w, Start: at, End: at + 270*time.Millisecond, Confidence: 0.91 + float64(i%7)/100})
	}
	r.Transcript.Text, r.Transcript.Confidence = text, 0.94
	var msg any = toResults("3b241101-e2bb-4255-8caf-4136c566a962", r, true)

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	b.Run("encoder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(msg); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
	b.Run("appendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := encodeMessage(&buf, enc, msg); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(buf.Len()))
	})
}
