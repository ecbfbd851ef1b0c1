package wire

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The streaming messages sent once per utterance or more often (Results,
// interim and final, SpeechStarted, UtteranceEnd, Durable) are encoded by hand:
// at a thousand sessions encoding/json's reflection over them was a few
// per cent of the gateway's CPU. Each appendJSON writes exactly what
// json.Encoder.Encode writes for the message (the newline after the
// object, HTML-escaped strings, floats as encoding/json formats them) and
// fails where it fails; json_test.go holds them to that. A field
// added to one of these structs must be added to its appendJSON too.

// jsonAppender is a message that encodes itself as json.Encoder.Encode
// would, without reflection.
type jsonAppender interface {
	// appendJSON appends the message and a newline to b. A float that is
	// NaN or infinite gives encoding/json's error and b unchanged.
	appendJSON(b []byte) ([]byte, error)
}

// AppendJSON appends msg to b as a json.Encoder's Encode writes it (the
// newline after it too), and returns b extended; when msg cannot be
// encoded (a NaN from an engine) it returns encoding/json's error and b
// as it was. The messages sent per utterance or per stored batch
// (Results, SpeechStarted, UtteranceEnd, Durable) skip reflection.
func AppendJSON(b []byte, msg any) ([]byte, error) {
	if a, ok := msg.(jsonAppender); ok {
		return a.appendJSON(b)
	}
	j, err := json.Marshal(msg)
	if err != nil {
		return b, err
	}
	b = append(b, j...)
	return append(b, '\n'), nil
}

func (m Results) appendJSON(b []byte) ([]byte, error) {
	if err := m.checkFloats(); err != nil {
		return b, err
	}
	b = append(b, `{"type":`...)
	b = appendJSONString(b, m.Type)
	b = append(b, `,"channel_index":`...)
	b = appendJSONInts(b, m.ChannelIndex)
	b = append(b, `,"duration":`...)
	b = appendJSONFloat(b, m.Duration)
	b = append(b, `,"start":`...)
	b = appendJSONFloat(b, m.Start)
	b = append(b, `,"is_final":`...)
	b = strconv.AppendBool(b, m.IsFinal)
	b = append(b, `,"speech_final":`...)
	b = strconv.AppendBool(b, m.SpeechFinal)
	b = append(b, `,"from_finalize":`...)
	b = strconv.AppendBool(b, m.FromFinalize)
	b = append(b, `,"channel":{"alternatives":`...)
	b = appendJSONArray(b, m.Channel.Alternatives, appendAlternative)
	b = append(b, `},"metadata":`...)
	b = m.Metadata.appendObject(b)
	return append(b, "}\n"...), nil
}

// checkFloats returns encoding/json's error for the first float of m it
// cannot encode, or nil.
func (m Results) checkFloats() error {
	if err := checkJSONFloat(m.Duration); err != nil {
		return err
	}
	if err := checkJSONFloat(m.Start); err != nil {
		return err
	}
	for _, a := range m.Channel.Alternatives {
		if err := checkJSONFloat(a.Confidence); err != nil {
			return err
		}
		for _, w := range a.Words {
			for _, f := range [...]float64{w.Start, w.End, w.Confidence} {
				if err := checkJSONFloat(f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func appendAlternative(b []byte, a Alternative) []byte {
	b = append(b, `{"transcript":`...)
	b = appendJSONString(b, a.Transcript)
	b = append(b, `,"confidence":`...)
	b = appendJSONFloat(b, a.Confidence)
	b = append(b, `,"words":`...)
	b = appendJSONArray(b, a.Words, appendWord)
	return append(b, '}')
}

func appendWord(b []byte, w Word) []byte {
	b = append(b, `{"word":`...)
	b = appendJSONString(b, w.Word)
	b = append(b, `,"start":`...)
	b = appendJSONFloat(b, w.Start)
	b = append(b, `,"end":`...)
	b = appendJSONFloat(b, w.End)
	b = append(b, `,"confidence":`...)
	b = appendJSONFloat(b, w.Confidence)
	b = append(b, `,"punctuated_word":`...)
	b = appendJSONString(b, w.PunctuatedWord)
	return append(b, '}')
}

func (m ResultsMetadata) appendObject(b []byte) []byte {
	b = append(b, `{"request_id":`...)
	b = appendJSONString(b, m.RequestID)
	b = append(b, `,"model_info":{"name":`...)
	b = appendJSONString(b, m.ModelInfo.Name)
	b = append(b, `,"version":`...)
	b = appendJSONString(b, m.ModelInfo.Version)
	b = append(b, `,"arch":`...)
	b = appendJSONString(b, m.ModelInfo.Arch)
	b = append(b, `},"model_uuid":`...)
	b = appendJSONString(b, m.ModelUUID)
	return append(b, '}')
}

func (m Durable) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = appendJSONString(b, m.Type)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, m.Bytes, 10)
	b = append(b, `,"seconds":`...)
	b = appendJSONFloat(b, m.Seconds)
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, m.RequestID)
	if m.ResumeWindow != nil {
		b = append(b, `,"resume_window":`...)
		b = appendJSONFloat(b, *m.ResumeWindow)
	}
	return append(b, "}\n"...), nil
}

func (m SpeechStarted) appendJSON(b []byte) ([]byte, error) {
	return appendVADEvent(b, m.Type, m.Channel, "timestamp", m.Timestamp)
}

func (m UtteranceEnd) appendJSON(b []byte) ([]byte, error) {
	return appendVADEvent(b, m.Type, m.Channel, "last_word_end", m.LastWordEnd)
}

// appendVADEvent writes SpeechStarted and UtteranceEnd, which differ only
// in the name of their time field: {"type":…,"channel":[…],"<key>":at}.
func appendVADEvent(b []byte, typ string, channel []int, key string, at float64) ([]byte, error) {
	if err := checkJSONFloat(at); err != nil {
		return b, err
	}
	b = append(b, `{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"channel":`...)
	b = appendJSONInts(b, channel)
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	b = appendJSONFloat(b, at)
	return append(b, "}\n"...), nil
}

// appendJSONFloat formats f as encoding/json does.
func appendJSONFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) || math.IsNaN(f) || math.IsInf(f, 0) {
		j, _ := json.Marshal(f)
		return append(b, j...)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// checkJSONFloat returns the error encoding/json gives for f when it
// cannot encode it (NaN or infinite), or nil; appendJSONFloat writes
// nothing for such an f.
func checkJSONFloat(f float64) error {
	if !math.IsNaN(f) && !math.IsInf(f, 0) {
		return nil
	}
	_, err := json.Marshal(f)
	return err
}

// appendJSONArray appends s as encoding/json does, each element by elem:
// null when s is nil.
func appendJSONArray[T any](b []byte, s []T, elem func([]byte, T) []byte) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, v)
	}
	return append(b, ']')
}

// appendJSONInts appends s as encoding/json does: null when nil.
func appendJSONInts(b []byte, s []int) []byte {
	return appendJSONArray(b, s, func(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) })
}

// appendJSONString appends s quoted as encoding/json quotes it with HTML
// escaping on, as Marshal and a default Encoder do: <, > and & as \u003c,
// \u003e and \u0026, other control bytes as \n-style or \u00XX escapes,
// U+2028 and U+2029 escaped, and each invalid UTF-8 byte as \ufffd.
// Transcripts are the engine's text, so none of this can be assumed away.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is still to be copied as it is
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
