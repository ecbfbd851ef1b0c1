// Package webhooktest is a receiver for the webhook connector's requests,
// as strict as a careful integrator's: it checks the Scribegate-Signature
// with its own HMAC code and refuses a stale timestamp (more than five
// minutes from its clock, which a test may skew), requires the
// Idempotency-Key and processes each key once (a repeat gets the same
// answer with Idempotent-Replayed: true), and validates the body — a FHIR
// Bundle of one DocumentReference and one Provenance, each valid against
// the official R4 schema, whose identifier is the key. On cue it answers
// 503, 429 with Retry-After, 422 with an OperationOutcome, stores a note
// and then drops the connection, or stalls.
package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// Tolerance is how far a signature's timestamp may be from the receiver's
// clock.
const Tolerance = 5 * time.Minute

// Fault is what the receiver does with the next requests.
type Fault int

// Faults.
const (
	Unavailable Fault = iota + 1 // 503
	RateLimited                  // 429 with Retry-After: 1
	Rejected                     // 422 with an OperationOutcome
	LoseReply                    // store, then drop the connection
	Stall                        // never answer
)

// Note is one delivered note.
type Note struct {
	Key               string
	DocumentReference json.RawMessage
	Provenance        json.RawMessage
	ID                string
}

// Request is one request as received, whatever became of it.
type Request struct {
	Header http.Header
	Body   []byte
}

// Receiver is a running receiver.
type Receiver struct {
	URL string

	t      testing.TB
	secret []byte

	faults   standin.Faults[fault]
	requests standin.Log[Request]
	refused  standin.Log[string]

	mu    sync.Mutex
	skew  time.Duration
	notes []Note
	byKey map[string]int
}

type fault struct {
	f      Fault
	reason string
}

// New starts a receiver that shares secret with the gateway.
func New(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{t: t, secret: []byte(secret), byKey: map[string]int{}}
	fhirtest.Schema(t) // compile the schema now, not inside a request
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/scribegate/notes"
	return r
}

// Skew sets the receiver's clock ahead (or behind) of the real one.
func (r *Receiver) Skew(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skew = d
}

// Inject makes the next n requests meet f; reason is Rejected's message.
func (r *Receiver) Inject(f Fault, reason string, n int) { r.faults.Inject(fault{f, reason}, n) }

// Notes returns the delivered notes.
func (r *Receiver) Notes() []Note {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Note(nil), r.notes...)
}

// Requests returns every request received.
func (r *Receiver) Requests() []Request { return r.requests.All() }

// Refused returns why requests were refused as malformed or unsigned.
func (r *Receiver) Refused() []string { return r.refused.All() }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodHead {
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	if err != nil {
		return
	}
	r.requests.Add(Request{Header: req.Header.Clone(), Body: body})
	r.mu.Lock()
	now := time.Now().Add(r.skew)
	r.mu.Unlock()

	if req.Method != http.MethodPost {
		r.refuse(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	if err := r.verify(body, req.Header.Get("Scribegate-Signature"), now); err != nil {
		r.refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	key := req.Header.Get("Idempotency-Key")
	if key == "" {
		r.refuse(w, http.StatusBadRequest, "Idempotency-Key is required")
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/fhir+json" {
		r.refuse(w, http.StatusUnsupportedMediaType, "Content-Type must be application/fhir+json, is "+ct)
		return
	}
	note, err := r.decode(body, key)
	if err != nil {
		r.refuse(w, http.StatusUnprocessableEntity, err.Error())
		return
	}

	f, _ := r.faults.Take(nil)
	switch f.f {
	case Unavailable:
		http.Error(w, "receiver busy", http.StatusServiceUnavailable)
		return
	case RateLimited:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	case Rejected:
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		oo, _ := json.Marshal(map[string]any{"resourceType": "OperationOutcome", "issue": []any{map[string]any{
			"severity": "error", "code": "business-rule", "details": map[string]string{"text": f.reason}}}})
		w.Write(oo)
		return
	case Stall:
		<-req.Context().Done()
		return
	}

	r.mu.Lock()
	i, replay := r.byKey[key]
	if !replay {
		note.ID = "doc-" + strconv.Itoa(len(r.notes)+1)
		r.notes = append(r.notes, note)
		i = len(r.notes) - 1
		r.byKey[key] = i
	}
	id := r.notes[i].ID
	r.mu.Unlock()
	if f.f == LoseReply {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if replay {
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	fmt.Fprintf(w, `{"id":%q}`, id)
}

func (r *Receiver) refuse(w http.ResponseWriter, status int, reason string) {
	r.refused.Add(reason)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error": reason})
	w.Write(b)
}

// verify is the receiver's side of the signature scheme, written apart
// from the connector's.
func (r *Receiver) verify(body []byte, header string, now time.Time) error {
	if header == "" {
		return fmt.Errorf("Scribegate-Signature is required")
	}
	fields := map[string][]string{}
	for _, p := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("malformed signature header")
		}
		fields[k] = append(fields[k], v)
	}
	if len(fields["t"]) != 1 || len(fields["v1"]) == 0 {
		return fmt.Errorf("signature header needs one t and a v1")
	}
	sec, err := strconv.ParseInt(fields["t"][0], 10, 64)
	if err != nil {
		return fmt.Errorf("signature timestamp is not a number")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > Tolerance || age < -Tolerance {
		return fmt.Errorf("signature timestamp is stale (%v from the receiver's clock)", age.Round(time.Second))
	}
	m := hmac.New(sha256.New, r.secret)
	m.Write([]byte(fields["t"][0] + "." + string(body)))
	want := m.Sum(nil)
	for _, v := range fields["v1"] {
		got, err := hex.DecodeString(v)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("signature does not match")
}

// decode checks the Bundle: type collection, identifier = key, one valid
// DocumentReference and one valid Provenance whose target is it.
func (r *Receiver) decode(body []byte, key string) (Note, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Identifier   struct {
			Value string `json:"value"`
		} `json:"identifier"`
		Entry []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return Note{}, fmt.Errorf("body is not JSON: %v", err)
	}
	if err := fhirtest.Schema(r.t).Validate(body); err != nil {
		return Note{}, fmt.Errorf("body is not a valid FHIR R4 Bundle: %v", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "collection" || b.Identifier.Value != key || len(b.Entry) != 2 {
		return Note{}, fmt.Errorf("want a collection Bundle of 2 entries identified by the Idempotency-Key")
	}
	n := Note{Key: key}
	for _, e := range b.Entry {
		var res struct {
			ResourceType string `json:"resourceType"`
			Target       []struct {
				Reference string `json:"reference"`
			} `json:"target"`
		}
		json.Unmarshal(e.Resource, &res)
		switch res.ResourceType {
		case "DocumentReference":
			n.DocumentReference = e.Resource
			if e.FullURL != b.Entry[0].FullURL {
				return Note{}, fmt.Errorf("the DocumentReference must come first")
			}
		case "Provenance":
			n.Provenance = e.Resource
			if len(res.Target) != 1 || res.Target[0].Reference != b.Entry[0].FullURL {
				return Note{}, fmt.Errorf("the Provenance must target the DocumentReference's fullUrl")
			}
		default:
			return Note{}, fmt.Errorf("unexpected %s in the Bundle", res.ResourceType)
		}
	}
	if n.DocumentReference == nil || n.Provenance == nil {
		return Note{}, fmt.Errorf("the Bundle needs a DocumentReference and a Provenance")
	}
	return n, nil
}
