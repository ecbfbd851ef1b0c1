package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"testing/quick"
)

// encoderJSON is msg as the connection writer encoded it before
// appendJSON: a default json.Encoder.
func encoderJSON(msg any) ([]byte, error) {
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(msg)
	return buf.Bytes(), err
}

// checkSameJSON fails t unless AppendJSON writes msg exactly as the
// Encoder does, or fails where it fails.
func checkSameJSON(t *testing.T, msg any) {
	t.Helper()
	want, wantErr := encoderJSON(msg)
	// AppendJSON appends; it must not touch what is there
	b, err := AppendJSON([]byte("prefix"), msg)
	got, ok := bytes.CutPrefix(b, []byte("prefix"))
	if !ok {
		t.Fatalf("AppendJSON(%#v) overwrote the buffer: %q", msg, b)
	}
	if (err != nil) != (wantErr != nil) || (err != nil && err.Error() != wantErr.Error()) {
		t.Fatalf("AppendJSON(%#v) error = %v, Encoder's = %v", msg, err, wantErr)
	}
	if wantErr != nil {
		if len(got) != 0 {
			t.Fatalf("AppendJSON(%#v) failed but wrote %q", msg, got)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendJSON(%#v)\n got %s\nwant %s", msg, got, want)
	}
}

func TestMessagesJSONAppenders(t *testing.T) {
	// The per-utterance messages skip reflection; others go on through it.
	for _, msg := range []any{Results{}, SpeechStarted{}, UtteranceEnd{}, Durable{}} {
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
	// A final Results as the gateway makes it.
	base := func() Results {
		return Results{Type: "Results", ChannelIndex: []int{0, 1}, Duration: 2, Start: 1.5, IsFinal: true, SpeechFinal: true,
			Channel: Channel{Alternatives: []Alternative{{Transcript: "Hello, world.", Confidence: 0.93, Words: []Word{
				{Word: "hello", Start: 1.5, End: 2, Confidence: 0.9, PunctuatedWord: "Hello,"},
				{Word: "world", Start: 2.1, End: 3.5, Confidence: 0.97, PunctuatedWord: "world."},
			}}}},
			Metadata: ResultsMetadata{RequestID: "5f0c2a4e-req", ModelInfo: ModelInfo{Name: "scribegate"}},
		}
	}
	// An empty interim Results as the gateway makes it.
	empty := Results{Type: "Results", ChannelIndex: []int{0, 1},
		Channel:  Channel{Alternatives: []Alternative{{Words: []Word{}}}},
		Metadata: ResultsMetadata{ModelInfo: ModelInfo{Name: "scribegate"}}}
	msgs := []Results{base(), {}, empty}
	for _, s := range trickyStrings {
		m := base()
		m.Type, m.Metadata.RequestID, m.Metadata.ModelUUID = s, s, s
		m.Metadata.ModelInfo = ModelInfo{Name: s, Version: s, Arch: s}
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
		for _, set := range []func(*Results){
			func(m *Results) { m.Duration = f },
			func(m *Results) { m.Start = f },
			func(m *Results) { m.Channel.Alternatives[0].Confidence = f },
			func(m *Results) { m.Channel.Alternatives[0].Words[1].Start = f },
			func(m *Results) { m.Channel.Alternatives[0].Words[1].End = f },
			func(m *Results) { m.Channel.Alternatives[0].Words[1].Confidence = f },
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
	m.Channel.Alternatives = []Alternative{{Words: []Word{}}, {}, base().Channel.Alternatives[0]}
	msgs = append(msgs, m)
	m = base()
	m.ChannelIndex = []int{-1, 0, math.MaxInt, math.MinInt}
	m.Channel.Alternatives = []Alternative{}
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
			msgs = append(msgs, SpeechStarted{Type: "SpeechStarted", Channel: ch, Timestamp: f},
				UtteranceEnd{Type: "UtteranceEnd", Channel: ch, LastWordEnd: f})
		}
	}
	for _, s := range trickyStrings {
		msgs = append(msgs, SpeechStarted{Type: s}, UtteranceEnd{Type: s})
	}
	// A message without appendJSON goes through the Encoder as before.
	msgs = append(msgs, ErrorMessage{Type: "Error", Code: "x", Description: "<&>"})
	for _, m := range msgs {
		checkSameJSON(t, m)
	}
}

// TestMessagesJSONEveryField fills every field of each message, nested
// ones too, with random values by reflection, so that a field added to a
// struct and not to its appendJSON fails here.
func TestMessagesJSONEveryField(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	for _, typ := range []reflect.Type{reflect.TypeFor[Results](), reflect.TypeFor[SpeechStarted](), reflect.TypeFor[UtteranceEnd](), reflect.TypeFor[Durable]()} {
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
		var ws []Word
		if bits&1 == 0 {
			ws = []Word{}
		}
		for i, w := range strings.Split(words, " ") {
			if w == "" && len(words) > 0 {
				continue
			}
			at := start + float64(i)*dur/7
			ws = append(ws, Word{Word: PlainWord(w), Start: at, End: at + dur/9, Confidence: conf * float64(i), PunctuatedWord: w})
		}
		alts := []Alternative{{Transcript: text, Confidence: conf, Words: ws}}
		switch bits >> 6 {
		case 1:
			alts = nil
		case 2:
			alts = append(alts, Alternative{Transcript: words, Confidence: -conf})
		}
		var ch []int
		if bits&2 == 0 {
			ch = []int{0, len(words), -int(bits)}
		}
		m := Results{
			Type: typ, ChannelIndex: ch, Duration: dur, Start: start,
			IsFinal: bits&4 != 0, SpeechFinal: bits&8 != 0, FromFinalize: bits&16 != 0,
			Channel:  Channel{Alternatives: alts},
			Metadata: ResultsMetadata{RequestID: reqID, ModelInfo: ModelInfo{Name: text, Version: typ, Arch: words}, ModelUUID: reqID},
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
// connection writer does, by reflection (Encoder) and by AppendJSON.
func BenchmarkResultsJSON(b *testing.B) {
	text := "The patient reports intermittent chest pain, worse on exertion, relieved by rest; no shortness of breath or palpitations."
	alt := Alternative{Transcript: text, Confidence: 0.94}
	for i, w := range strings.Fields(text) {
		at := 93 + float64(i)*0.3
		alt.Words = append(alt.Words, Word{Word: PlainWord(w), Start: at, End: at + 0.27, Confidence: 0.91 + float64(i%7)/100, PunctuatedWord: w})
	}
	var msg any = Results{Type: "Results", ChannelIndex: []int{0, 1}, Duration: 6.2, Start: 93, IsFinal: true, SpeechFinal: true,
		Channel:  Channel{Alternatives: []Alternative{alt}},
		Metadata: ResultsMetadata{RequestID: "3b241101-e2bb-4255-8caf-4136c566a962", ModelInfo: ModelInfo{Name: "scribegate"}}}

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
		var out []byte
		for b.Loop() {
			var err error
			if out, err = AppendJSON(out[:0], msg); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(out)))
	})
}

// TestDurableJSON: the Durable message written by hand is byte for byte
// what encoding/json writes.
func TestDurableJSON(t *testing.T) {
	window := func(s float64) *float64 { return &s }
	for _, m := range []Durable{
		{Type: "Durable", Bytes: 3200, Seconds: 0.1, RequestID: "a", ResumeWindow: window(120)},
		{Type: "Durable", Bytes: 3200, Seconds: 0.1, RequestID: "a", ResumeWindow: window(0)},
		{Type: "Durable", Bytes: 3200, Seconds: 0.1, RequestID: "a", ResumeWindow: window(0.25)},
		{Type: "Durable"},
		{Type: "Durable", Bytes: 3200, Seconds: 0.1, RequestID: "6f1c2a54-7c0e-4f5e-9d1a-2b3c4d5e6f70"},
		{Type: "Durable", Bytes: 6400, Seconds: 0.2, RequestID: "odd \"id\" <&>\u2028"},
		{Type: "Durable", Bytes: 1 << 40, Seconds: 34359738.368},
		{Type: "Durable", Bytes: 1, Seconds: 1.0 / 3},
		{Type: "Durable", Bytes: 3, Seconds: 1e-7},
		{Type: "Durable", Bytes: 5, Seconds: 2.5e21},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(m); err != nil {
			t.Fatal(err)
		}
		if got, _ := m.appendJSON(nil); string(got) != want.String() {
			t.Errorf("%+v: got %q, want %q", m, got, want.String())
		}
	}
}
