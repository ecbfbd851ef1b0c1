package connectortest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// FHIRTarget is the Target for connectors that write DocumentReferences to
// a FHIR server, stood in for by a fhirtest.Server.
type FHIRTarget struct {
	Server *fhirtest.Server
	// NoteSystem is the identifier system the connector uses; empty means
	// fhirdoc.DefaultNoteSystem.
	NoteSystem string
	// Expire invalidates issued tokens (see Target.ExpireTokens); nil means
	// the connector uses no tokens.
	Expire func() bool
}

// Filed decodes the DocumentReferences carrying ident.
func (f *FHIRTarget) Filed(t testing.TB, ident string) []Filed {
	t.Helper()
	system := f.NoteSystem
	if system == "" {
		system = fhirdoc.DefaultNoteSystem
	}
	var out []Filed
	for _, raw := range f.Server.Find("DocumentReference", system, ident) {
		out = append(out, DecodeDocumentReference(t, raw))
	}
	return out
}

// DecodeDocumentReference reads a filed DocumentReference: its id, the text
// of its first text/plain attachment, and what it replaces.
func DecodeDocumentReference(t testing.TB, raw json.RawMessage) Filed {
	t.Helper()
	var dr struct {
		ID      string `json:"id"`
		Content []struct {
			Attachment struct {
				ContentType string `json:"contentType"`
				Data        string `json:"data"`
			} `json:"attachment"`
		} `json:"content"`
		RelatesTo []struct {
			Code   string `json:"code"`
			Target struct {
				Reference  string `json:"reference"`
				Identifier struct {
					Value string `json:"value"`
				} `json:"identifier"`
			} `json:"target"`
		} `json:"relatesTo"`
	}
	if err := json.Unmarshal(raw, &dr); err != nil {
		t.Fatalf("connectortest: filed DocumentReference: %v", err)
	}
	f := Filed{ID: dr.ID, Resource: raw}
	for _, c := range dr.Content {
		if strings.HasPrefix(c.Attachment.ContentType, "text/plain") {
			b, err := base64.StdEncoding.DecodeString(c.Attachment.Data)
			if err != nil {
				t.Errorf("connectortest: attachment data is not base64: %v", err)
			}
			f.Text = string(b)
			break
		}
	}
	for _, r := range dr.RelatesTo {
		if r.Code != "replaces" {
			continue
		}
		f.Replaces = r.Target.Identifier.Value
		if f.Replaces == "" {
			f.Replaces = r.Target.Reference
		}
	}
	return f
}

// Inject maps the kit's faults onto fhirtest faults on DocumentReference
// POSTs.
func (f *FHIRTarget) Inject(fault Fault, message string, n int) bool {
	ff := fhirtest.Fault{Method: http.MethodPost, ResourceType: "DocumentReference", Message: message}
	switch fault {
	case LostResponse:
		ff.Drop = true
	case Unavailable:
		ff.Status = http.StatusServiceUnavailable
	case RateLimited:
		ff.Status, ff.RetryAfter = http.StatusTooManyRequests, time.Second
	case Rejected:
		ff.Status = http.StatusUnprocessableEntity
	case Stall:
		ff.Delay = time.Minute
	default:
		return false
	}
	f.Server.Inject(ff, n)
	return true
}

// ExpireTokens calls Expire.
func (f *FHIRTarget) ExpireTokens() bool {
	return f.Expire != nil && f.Expire()
}
