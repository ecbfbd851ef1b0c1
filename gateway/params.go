package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/transcription/notes"
)

// listenParams is a validated /v1/listen query.
type listenParams struct {
	sampleRate   int
	endpointing  time.Duration // 0: the stream's default
	noEndpoint   bool          // endpointing=false
	utteranceEnd time.Duration // 0: no UtteranceEnd messages
	vadEvents    bool
	interim      bool // interim_results=true
	language     string
	keyterms     []string // keyterm and keywords, for the engine's prompt
	patient      string
	encounter    string
	demographics demographics
	template     notes.Template
	connector    string
	session      string
	resume       bool
	// sampleRateSet: the client named its rate (a resume must match).
	sampleRateSet bool
	encoding      string // "linear16"; "opus" or "ogg-opus" (Ogg or WebM Opus); or "" (a container is read if sent)
	dg            deepgramOptions
	// progress: send Progress messages (progress.go).
	progress bool
}

// parseListen validates the query of c's request r before the upgrade, so
// a client learns what is wrong from a 400 with a reason instead of a
// closed socket; last, it holds the patient and encounter to the ones
// c's sign-in was launched with, if any (checkLaunch).
func (s *Server) parseListen(r *http.Request, c auth.Claims) (listenParams, error) {
	vals := r.URL.Query()
	p := listenParams{sampleRate: 16000}
	bad := func(code, param, format string, args ...any) error {
		return &apierror.Error{Status: http.StatusBadRequest, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
	}
	for key, vs := range vals {
		if key == "keyterm" || key == "keywords" {
			// Repeated by design, one term each.
			for _, v := range vs {
				if key == "keywords" {
					v = dropBoost(v)
				}
				if v = strings.TrimSpace(v); v == "" || len(v) > maxKeytermBytes || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
					return p, bad(apierror.CodeInvalidParameter, key, "%s must be a word or phrase of 1 to %d bytes of text", key, maxKeytermBytes)
				}
				p.keyterms = append(p.keyterms, v)
			}
			if len(p.keyterms) > maxKeyterms {
				return p, bad(apierror.CodeInvalidParameter, key, "at most %d keyterm and keywords together", maxKeyterms)
			}
			continue
		}
		if key == "tag" {
			for _, v := range vs {
				if err := p.addTag(v); err != nil {
					return p, err
				}
			}
			continue
		}
		if len(vs) > 1 {
			return p, bad(apierror.CodeInvalidParameter, key, "query parameter %s is given more than once", key)
		}
		v := vs[0]
		switch key {
		case "encoding":
			// opus and ogg-opus are Deepgram's names for Opus in a
			// container, which the first frame then must be (sniff).
			if v != "linear16" && v != "opus" && v != "ogg-opus" {
				return p, bad(apierror.CodeUnsupportedEncoding, key, "encoding %.32q is not supported; send raw linear16 PCM, or a WAV, Ogg Opus or WebM Opus file without encoding=", v)
			}
			p.encoding = v
		case "sample_rate":
			n, err := strconv.Atoi(v)
			if err != nil || n < 8000 || n > 48000 {
				return p, bad(apierror.CodeUnsupportedSampleRate, key, "sample_rate must be an integer from 8000 to 48000")
			}
			p.sampleRate, p.sampleRateSet = n, true
		case "channels":
			if v != "1" {
				return p, bad(apierror.CodeUnsupportedChannels, key, "only mono audio is supported: channels=1")
			}
		case "interim_results", "punctuate", "smart_format", "vad_events", "progress":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, bad(apierror.CodeInvalidParameter, key, "%s must be true or false", key)
			}
			switch key {
			case "vad_events":
				p.vadEvents = b
			case "interim_results":
				p.interim = b
			case "progress":
				p.progress = b
			}
		case "endpointing":
			if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
				p.noEndpoint = !b
				break
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 10 || n > 60000 {
				return p, bad(apierror.CodeInvalidParameter, key, "endpointing must be milliseconds from 10 to 60000, or false")
			}
			p.endpointing = time.Duration(n) * time.Millisecond
		case "utterance_end_ms":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 60000 {
				return p, bad(apierror.CodeInvalidParameter, key, "utterance_end_ms must be milliseconds from 1 to 60000")
			}
			p.utteranceEnd = time.Duration(n) * time.Millisecond
		case "language":
			if !validLanguage(v) {
				return p, bad(apierror.CodeInvalidParameter, key, "language must be a BCP-47 tag such as en or en-AU")
			}
			p.language = v
		case "model":
			// Deepgram SDKs send a model; the gateway's engine is chosen
			// by the operator, so the name is accepted and not used.
		case "patient":
			p.patient = v
		case "encounter":
			p.encounter = v
		case "patient_name", "patient_birth_date", "patient_sex":
			if err := p.demographics.set(key, v, time.Now()); err != nil {
				return p, bad(apierror.CodeInvalidParameter, key, "%s", err)
			}
		case "template", "connector", "session":
			// Checked below, after every parameter is known to be valid.
		case "resume":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return p, bad(apierror.CodeInvalidParameter, key, "resume must be true or false")
			}
			p.resume = b
		default:
			if err := p.deepgramOption(key, v); err != nil {
				return p, err
			}
		}
	}
	if strings.TrimSpace(p.patient) == "" {
		return p, bad(apierror.CodeMissingPatient, "patient", "patient is required: the EHR's id of the patient")
	}
	if id := vals.Get("template"); id != "" {
		t, err := s.opts.Templates.Get(id)
		if err != nil {
			return p, bad(apierror.CodeUnknownTemplate, "template", "template %.64q does not exist", id)
		}
		p.template = t
	} else {
		p.template = s.opts.Templates.Default(c.Clinic, c.Subject)
	}
	conn, err := s.sessionConnector(c.Clinic, vals.Get("connector"))
	if err != nil {
		return p, err
	}
	p.connector = conn
	if err := s.checkIDs(p.connector, p.patient, p.encounter); err != nil {
		return p, err
	}
	// session= resumes a session; listen checks it against the store.
	p.session = vals.Get("session")
	if p.resume && p.session == "" {
		return p, bad(apierror.CodeInvalidParameter, "resume", "resume=true needs session=<id>")
	}
	return p, s.checkLaunch(r, p.patient, p.encounter)
}

// Bounds on keyterm and keywords: Whisper reads a prompt of 224 tokens,
// and Deepgram takes up to 100 keyterms.
const (
	maxKeyterms     = 100
	maxKeytermBytes = 100
)

// dropBoost takes the intensifier off a Deepgram keyword ("metformin:2"):
// the gateway's engines are given the word, not a weight.
func dropBoost(v string) string {
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		if _, err := strconv.ParseFloat(v[i+1:], 64); err == nil {
			return v[:i]
		}
	}
	return v
}

func validLanguage(v string) bool {
	if v == "" || len(v) > 35 {
		return false
	}
	for part := range strings.SplitSeq(v, "-") {
		if part == "" || len(part) > 8 {
			return false
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// clientChosen reports whether session= names a session the client may
// start: a UUID, not asked to resume (resume=true). A Deepgram SDK
// reconnects to the URL it first connected to, so a client that picks
// its session id resumes by merely reconnecting.
func (p listenParams) clientChosen() bool {
	if p.resume || len(p.session) != 36 {
		return false
	}
	for i, c := range []byte(p.session) {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}
