package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/notes"
)

// Deepgram compatibility: the live and pre-recorded query parameters the
// gateway honours beyond the core ones parseListen knows, and Deepgram's
// error shape.

// deepgramOptions are the Deepgram query options a session honours
// besides the core ones; a rebuilt session has them from its note.
type deepgramOptions struct {
	numerals    bool     // numerals=true: spoken numbers as digits in Results
	fillerWords bool     // filler_words=true: keep "uh", "um" (Deepgram drops them by default)
	tags        []string // tag: kept with the note (review.Note.Tags)
}

// maxTags bounds tag, as Deepgram's usage reports do in practice; each is a
// short label.
const (
	maxTags     = 20
	maxTagBytes = 128
)

// deepgramOption takes one Deepgram query parameter that parseListen's own
// switch does not know: accepted where the gateway honours it (or it asks
// for what the gateway does anyway), refused with the reason otherwise.
func (p *listenParams) deepgramOption(key, v string) error {
	boolean := func() (bool, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidParameter, Param: key, Message: key + " must be true or false"}
		}
		return b, nil
	}
	refuse := func(why string) error {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedParameter, Param: key, Message: key + "=" + v + " is not supported: " + why}
	}
	switch key {
	case "numerals":
		b, err := boolean()
		if err != nil {
			return err
		}
		p.dg.numerals = b
	case "filler_words":
		b, err := boolean()
		if err != nil {
			return err
		}
		p.dg.fillerWords = b
	case "no_delay", "mip_opt_out":
		// no_delay: finals are never held back for formatting here.
		// mip_opt_out: no audio or transcript is used to train models.
		if _, err := boolean(); err != nil {
			return err
		}
	case "multichannel", "diarize", "profanity_filter", "dictation", "measurements":
		b, err := boolean()
		if err != nil {
			return err
		}
		if b {
			return refuse(map[string]string{
				"multichannel":     "audio is mono (channels=1)",
				"diarize":          "the configured engines give no speaker labels",
				"profanity_filter": "a clinical record keeps the words as spoken",
				"dictation":        "spoken punctuation commands are not converted",
				"measurements":     "units are not converted to abbreviations",
			}[key])
		}
	case "redact":
		if v != "false" {
			return refuse("the gateway does not redact the transcript; the note goes to the patient's record")
		}
	default:
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedParameter, Param: key, Message: fmt.Sprintf("query parameter %.64q is not supported", key)}
	}
	return nil
}

// addTag takes a Deepgram tag (repeatable): a label kept with the note.
func (p *listenParams) addTag(v string) error {
	if v == "" || len(v) > maxTagBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, isControl) {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidParameter, Param: "tag", Message: "tag must be a label of 1 to 128 bytes of text"}
	}
	if len(p.dg.tags) == maxTags {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidParameter, Param: "tag", Message: "at most 20 tags"}
	}
	p.dg.tags = append(p.dg.tags, v)
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// fillers are the hesitations Deepgram leaves out unless filler_words=true.
var fillers = map[string]bool{"uh": true, "um": true, "uhm": true, "umm": true, "er": true, "erm": true, "hmm": true, "mm": true, "mhm": true}

// shape applies the session's Deepgram options to a result's transcript
// before it is sent and kept: filler words dropped (unless asked for) and,
// with numerals, spoken numbers in the transcript as digits. Words keep
// what was recognised (a number's words keep their own timings).
func (o deepgramOptions) shape(t *transcription.Transcript) {
	if !o.fillerWords && t.Text != "" {
		t.Text = dropFillers(t.Text)
		kept := t.Words[:0]
		for _, w := range t.Words {
			if !fillers[wire.PlainWord(w.Word)] {
				kept = append(kept, w)
			}
		}
		t.Words = kept
	}
	if o.numerals && t.Text != "" {
		// The drafter's own normaliser (C2), so the live text and the
		// note's claims read numbers alike.
		t.Text = notes.NormalizeNumbers(t.Text)
	}
}

// dropFillers removes filler words ("um,", "Uh.") from text.
func dropFillers(text string) string {
	fields := strings.Fields(text)
	kept := fields[:0]
	for _, f := range fields {
		if !fillers[wire.PlainWord(f)] {
			kept = append(kept, f)
		}
	}
	if len(kept) == len(fields) {
		return text
	}
	return strings.Join(kept, " ")
}

// deepgramError is what Deepgram's SDKs read from a refused request: a
// dg-error header with the message, and err_code/err_msg/request_id in the
// body (beside our own error object).
func deepgramError(w http.ResponseWriter, r *http.Request, b *apierror.Body) {
	if r.URL.Path != "/v1/listen" {
		return
	}
	id := newID()
	w.Header().Set("dg-error", b.Error.Message)
	w.Header().Set("dg-request-id", id)
	b.ErrCode, b.ErrMsg, b.RequestID = strings.ToUpper(b.Error.Code), b.Error.Message, id
}
