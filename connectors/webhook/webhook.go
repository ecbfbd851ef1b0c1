package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// Kind is the connector kind name used in configuration.
const Kind = "webhook"

// Header names of the request.
const (
	SignatureHeader   = "Scribegate-Signature"
	IdempotencyHeader = "Idempotency-Key"
	ReplayedHeader    = "Idempotent-Replayed"
)

// minSecretBytes is the shortest secret accepted: an HMAC key shorter than
// its hash's output (32 bytes for SHA-256) weakens it.
const minSecretBytes = 32

func init() { connectors.Register(Kind, connectors.Opener(Kind, New)) }

// Settings are an instance's configuration keys.
type Settings struct {
	// URL is the receiver's endpoint; https, or http to a loopback address
	// (for a receiver on the same host).
	URL string `yaml:"url"`
	// SecretFile / SecretEnv hold the shared signing secret (one of them).
	SecretFile string `yaml:"secret_file"`
	SecretEnv  string `yaml:"secret_env"`
	// Headers are sent with every request (a tenant id, say). They cannot
	// replace the gateway's own headers.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one request (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Connector posts notes to one receiver.
type Connector struct {
	name    string
	url     string
	secret  []byte
	headers http.Header
	hc      *http.Client
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
}

// New builds a Connector from decoded settings; the registered Factory
// (connectors.Opener) decodes them from the instance's configuration.
func New(c connectors.Config, s Settings) (*Connector, error) {
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return nil, fmt.Errorf("webhook: url %q: want an https URL (http only to a loopback address)", s.URL)
	}
	secret, err := connectors.ReadSecret(s.SecretFile, s.SecretEnv)
	if err != nil {
		return nil, fmt.Errorf("webhook: secret: %w", err)
	}
	if len(secret) < minSecretBytes {
		return nil, fmt.Errorf("webhook: secret: at least %d bytes, got %d", minSecretBytes, len(secret))
	}
	h := http.Header{}
	for k, v := range s.Headers {
		switch http.CanonicalHeaderKey(k) {
		case SignatureHeader, IdempotencyHeader, "Content-Type", "Content-Length", "Host", "Authorization":
			return nil, fmt.Errorf("webhook: headers: %s is set by the gateway", k)
		}
		h.Set(k, v)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout, err := connectors.Timeout(s.Timeout, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return &Connector{name: c.Name, url: s.URL, secret: []byte(secret), headers: h, hc: hc, timeout: timeout, log: log, now: time.Now}, nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Sign is the Scribegate-Signature header value for body signed at t with
// secret: "t={unix},v1={hex HMAC-SHA256 of "{unix}.{body}"}". Receivers
// written in Go can use it to verify (compare with hmac.Equal).
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a Scribegate-Signature header against body: a v1 that
// matches, and a timestamp within tolerance of now. It is the receiver's
// side of the scheme, for Go receivers and for tests.
func Verify(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook: signature has no timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: signature timestamp is %v from now, beyond %v", d.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("webhook: no signature matches")
}

// Push posts d. It is idempotent through the receiver: every attempt for
// one version carries the same Idempotency-Key and the same body.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	body, err := Body(d)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	ident := connectors.Identifier(d.NoteID, d.Version)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return connectors.Receipt{}, &connectors.PushError{Permanent: true, Message: "webhook: " + err.Error(), Err: err}
	}
	for k, v := range c.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/json, application/fhir+json")
	req.Header.Set(IdempotencyHeader, ident)
	req.Header.Set(SignatureHeader, Sign(c.secret, body, c.now()))
	resp, err := c.hc.Do(req)
	if err != nil {
		return connectors.Receipt{}, &connectors.PushError{Message: "the webhook receiver could not be reached", Err: err}
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	log := c.log.With("instance", c.name, "note", d.NoteID, "version", d.Version, "status", resp.StatusCode)
	if resp.StatusCode/100 == 2 {
		dup := strings.EqualFold(resp.Header.Get(ReplayedHeader), "true")
		id := receiptID(reply, resp.Header.Get("Location"), ident)
		log.InfoContext(ctx, "webhook: delivered", "duplicate", dup)
		return connectors.Receipt{ExternalID: id, Duplicate: dup}, nil
	}
	reason := replyReason(reply)
	pe := &connectors.PushError{StatusCode: resp.StatusCode, Message: "the webhook receiver answered " + resp.Status}
	if reason != "" {
		pe.Message += ": " + reason
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests:
		pe.RetryAfter = fhirclient.RetryAfter(resp.Header, c.now())
	default:
		if resp.StatusCode < 500 {
			pe.Permanent = true
		} else {
			pe.RetryAfter = fhirclient.RetryAfter(resp.Header, c.now())
		}
	}
	log.WarnContext(ctx, "webhook: not delivered", "permanent", pe.Permanent)
	return connectors.Receipt{}, pe
}

// receiptID is the receiver's id for the note: a JSON body's "id", the
// Location header, or the note identifier.
func receiptID(body []byte, location, ident string) string {
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &v) == nil && v.ID != "" {
		return v.ID
	}
	if location != "" {
		return location
	}
	return ident
}

// replyReason is the receiver's explanation: an OperationOutcome's, a
// JSON "error" or "message" (a string, or an object with a "message"),
// or a short plain-text body.
func replyReason(body []byte) string {
	if msg, ok := fhirdoc.ParseOperationOutcome(body); ok {
		return msg
	}
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		var o struct {
			Message string `json:"message"`
		}
		switch {
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			return s
		case json.Unmarshal(v.Error, &o) == nil && o.Message != "":
			return o.Message
		case v.Message != "":
			return v.Message
		}
		return ""
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 300 || strings.ContainsAny(text, "<>") {
		return "" // an HTML error page says nothing a clinician can use
	}
	return text
}

// Check posts nothing: it proves only that the receiver's host answers
// (any HTTP status) to a HEAD of the URL.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	r := connectors.CheckResult{Name: "receiver reachable", Detail: c.url}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.url, nil)
	if err == nil {
		var resp *http.Response
		if resp, err = c.hc.Do(req); err == nil {
			resp.Body.Close()
			r.OK, r.Detail = true, fmt.Sprintf("%s answered %s", c.url, resp.Status)
		}
	}
	if err != nil {
		r.Detail = err.Error()
	}
	return []connectors.CheckResult{r}
}
