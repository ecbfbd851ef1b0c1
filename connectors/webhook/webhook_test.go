package webhook

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/webhook/webhooktest"
)

const secret = "test-only-webhook-secret-0123456789abcdef"

func open(t *testing.T, url string) *Connector {
	t.Helper()
	file := connectortest.SecretFile(t, secret+"\n")
	c, err := New(connectors.Config{Name: "integrator"}, Settings{URL: url, SecretFile: file, Timeout: 5 * time.Second,
		Headers: map[string]string{"X-Tenant": "clinic-a"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type target struct{ r *webhooktest.Receiver }

func (tg target) Filed(t testing.TB, ident string) []connectortest.Filed {
	var out []connectortest.Filed
	for _, n := range tg.r.Notes() {
		if n.Key == ident {
			f := connectortest.DecodeDocumentReference(t, n.DocumentReference)
			f.ID = n.ID
			f.Provenances = []json.RawMessage{n.Provenance}
			out = append(out, f)
		}
	}
	return out
}

func (tg target) Inject(f connectortest.Fault, msg string, n int) bool {
	m := map[connectortest.Fault]webhooktest.Fault{
		connectortest.LostResponse: webhooktest.LoseReply,
		connectortest.Unavailable:  webhooktest.Unavailable,
		connectortest.RateLimited:  webhooktest.RateLimited,
		connectortest.Rejected:     webhooktest.Rejected,
		connectortest.Stall:        webhooktest.Stall,
	}
	tg.r.Inject(m[f], msg, n)
	return true
}

func (target) ExpireTokens() bool { return false }

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			r := webhooktest.New(t, secret)
			t.Cleanup(func() {
				if bad := r.Refused(); len(bad) > 0 {
					t.Errorf("the receiver refused requests: %q", bad)
				}
			})
			return open(t, r.URL), target{r}
		},
	})
}

// document is the kit's sample document, which the golden bundle pins.
func document() *connectors.Document { return connectortest.Sample() }

// TestGolden pins exactly what is sent: the body, and the headers a
// receiver relies on (the signature over a fixed time).
func TestGolden(t *testing.T) {
	r := webhooktest.New(t, secret)
	c := open(t, r.URL)
	at := time.Now().Truncate(time.Second)
	c.now = func() time.Time { return at }
	rc, err := c.Push(t.Context(), document())
	if err != nil {
		t.Fatal(err)
	}
	if rc.ExternalID != "doc-1" || rc.Duplicate {
		t.Errorf("receipt %+v, want the receiver's id doc-1", rc)
	}
	req := r.Requests()[0]
	connectortest.Golden(t, "bundle.golden.json", req.Body)
	if got, want := req.Header.Get(SignatureHeader), Sign([]byte(secret), req.Body, at); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	if req.Header.Get(IdempotencyHeader) != "note-7f3a-v2" || req.Header.Get("X-Tenant") != "clinic-a" || req.Header.Get("Content-Type") != "application/fhir+json" {
		t.Errorf("headers %v", req.Header)
	}
	// A retry sends the same bytes under the same key: the receiver files
	// it once and says it replayed.
	again, err := c.Push(t.Context(), document())
	if err != nil || !again.Duplicate || again.ExternalID != "doc-1" {
		t.Fatalf("retry = %+v, %v; want the same document, a duplicate", again, err)
	}
	if b := r.Requests()[1].Body; string(b) != string(req.Body) {
		t.Error("a retry sent a different body")
	}
}

// TestSignatureRefusals: the receiver refuses a request signed with
// another secret, and one whose timestamp is stale by its clock.
func TestSignatureRefusals(t *testing.T) {
	t.Run("wrong secret", func(t *testing.T) {
		r := webhooktest.New(t, "another-secret-of-at-least-32-bytes!!")
		_, err := open(t, r.URL).Push(t.Context(), document())
		var pe *connectors.PushError
		if !errors.As(err, &pe) || !pe.Permanent || pe.StatusCode != 401 || !strings.Contains(pe.Message, "signature does not match") {
			t.Fatalf("Push = %v; want a permanent 401 naming the signature", err)
		}
	})
	t.Run("stale timestamp", func(t *testing.T) {
		r := webhooktest.New(t, secret)
		r.Skew(6 * time.Minute)
		_, err := open(t, r.URL).Push(t.Context(), document())
		if err == nil || !strings.Contains(err.Error(), "stale") || len(r.Notes()) != 0 {
			t.Fatalf("Push = %v; want a refusal for a stale timestamp and nothing filed", err)
		}
	})
	t.Run("clock skew within tolerance", func(t *testing.T) {
		r := webhooktest.New(t, secret)
		r.Skew(-4 * time.Minute)
		if _, err := open(t, r.URL).Push(t.Context(), document()); err != nil {
			t.Fatalf("Push with 4 minutes of skew: %v", err)
		}
	})
}

func TestVerify(t *testing.T) {
	body := []byte(`{"resourceType":"Bundle"}`)
	at := time.Unix(1741874400, 0)
	h := Sign([]byte(secret), body, at)
	for _, tt := range []struct {
		name   string
		body   []byte
		header string
		now    time.Time
		ok     bool
	}{
		{"valid", body, h, at.Add(time.Minute), true},
		{"rotated: two v1, one good", body, "t=1741874400,v1=00," + h[len("t=1741874400,"):], at, true},
		{"body changed", []byte(`{"resourceType":"Bundle" }`), h, at, false},
		{"timestamp changed", body, strings.Replace(h, "t=1741874400", "t=1741874401", 1), at, false},
		{"too old", body, h, at.Add(6 * time.Minute), false},
		{"from the future", body, h, at.Add(-6 * time.Minute), false},
		{"no timestamp", body, h[len("t=1741874400,"):], at, false},
		{"empty", body, "", at, false},
	} {
		if err := Verify([]byte(secret), tt.body, tt.header, tt.now, 5*time.Minute); (err == nil) != tt.ok {
			t.Errorf("%s: Verify = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestReplyReason(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"unknown patient"}]}`, "unknown patient"},
		{`{"error":"patient not found"}`, "patient not found"},
		{`{"error":{"message":"encounter closed"}}`, "encounter closed"},
		{`{"message":"bad note"}`, "bad note"},
		{"plain words", "plain words"},
		{"<html><body>Bad Gateway</body></html>", ""},
	} {
		if got := replyReason([]byte(tt.body)); got != tt.want {
			t.Errorf("replyReason(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestSettings(t *testing.T) {
	file := connectortest.SecretFile(t, secret)
	short := connectortest.SecretFile(t, "too-short")
	for _, s := range []Settings{
		{URL: "http://integrator.example/x", SecretFile: file},
		{URL: "ftp://127.0.0.1/x", SecretFile: file},
		{URL: "https://integrator.example/x", SecretFile: short},
		{URL: "https://integrator.example/x"},
		{URL: "https://integrator.example/x", SecretFile: file, Headers: map[string]string{"idempotency-key": "x"}},
	} {
		if _, err := New(connectors.Config{Name: "w"}, s); err == nil {
			t.Errorf("New(%+v) accepted", s)
		}
	}
	if _, err := New(connectors.Config{Name: "w"}, Settings{URL: "http://127.0.0.1:9/x", SecretFile: file}); err != nil {
		t.Errorf("http to loopback refused: %v", err)
	}
}
