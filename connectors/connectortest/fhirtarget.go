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
	// Token is the stand-in's token endpoint behind fault injection, for
	// the kit's token fault case; nil means the case is skipped.
	Token *fhirtest.TokenFaults
	// Issued counts the tokens the stand-in issued, for the kit's token
	// reuse case; nil means the case is skipped.
	Issued func() int
}

var (
	_ Faulter      = (*FHIRTarget)(nil)
	_ Pager        = (*FHIRTarget)(nil)
	_ TokenCounter = (*FHIRTarget)(nil)
)

// Filed decodes the DocumentReferences carrying ident.
func (f *FHIRTarget) Filed(t testing.TB, ident string) []Filed {
	t.Helper()
	system := f.NoteSystem
	if system == "" {
		system = fhirdoc.DefaultNoteSystem
	}
	var out []Filed
	for _, raw := range f.Server.Find("DocumentReference", system, ident) {
		d := DecodeDocumentReference(t, raw)
		d.Provenances = f.provenancesFor(d.ID, system, ident)
		out = append(out, d)
	}
	return out
}

// provenancesFor returns the stored Provenances whose target is the
// DocumentReference id (relative or absolute reference) or carries its
// note identifier.
func (f *FHIRTarget) provenancesFor(id, system, ident string) []json.RawMessage {
	var out []json.RawMessage
	for _, raw := range f.Server.Resources("Provenance") {
		var p struct {
			Target []struct {
				Reference  string
				Identifier struct{ System, Value string }
			}
		}
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		for _, tg := range p.Target {
			ref := tg.Reference
			if i := strings.Index(ref, "/_history/"); i >= 0 {
				ref = ref[:i]
			}
			if ref == "DocumentReference/"+id || strings.HasSuffix(ref, "/DocumentReference/"+id) ||
				(tg.Identifier.System == system && tg.Identifier.Value == ident) {
				out = append(out, raw)
				break
			}
		}
	}
	return out
}

// DecodeDocumentReference reads a filed DocumentReference: its id, the text
// of its first text/plain attachment, and what it replaces.
func DecodeDocumentReference(t testing.TB, raw json.RawMessage) Filed {
	t.Helper()
	var dr struct {
		ID        string            `json:"id"`
		Content   []fhirdoc.Content `json:"content"`
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
	return f.InjectAt(OnWrite, fault, message, n)
}

// InjectAt maps the kit's faults onto fhirtest faults on DocumentReference
// POSTs (OnWrite), on every GET (OnSearch: a refusal is a 403), or on the
// token endpoint (OnToken, when Token is set: a refusal is 400
// invalid_client).
func (f *FHIRTarget) InjectAt(where Where, fault Fault, message string, n int) bool {
	method, resourceType, rejected := http.MethodPost, "DocumentReference", http.StatusUnprocessableEntity
	switch where {
	case OnWrite:
	case OnSearch:
		method, resourceType, rejected = http.MethodGet, "", http.StatusForbidden
	case OnToken:
		if f.Token == nil {
			return false
		}
		rejected = http.StatusBadRequest
	default:
		return false
	}
	ff, ok := FHIRFault(fault, rejected, message)
	if !ok {
		return false
	}
	ff.Method, ff.ResourceType = method, resourceType
	if where == OnToken {
		f.Token.Inject(ff, n)
	} else {
		f.Server.Inject(ff, n)
	}
	return true
}

// FHIRFault is fault as fhirtest's stand-ins (Server, TokenFaults) make
// it, on any request: a refusal answers status rejected, and message is
// the error's text. It is false for a fault they cannot make.
func FHIRFault(fault Fault, rejected int, message string) (fhirtest.Fault, bool) {
	ff := fhirtest.Fault{Message: message}
	switch fault {
	case LostResponse:
		ff.Drop = true
	case Unavailable:
		ff.Status = http.StatusServiceUnavailable
	case RateLimited:
		ff.Status, ff.RetryAfter = http.StatusTooManyRequests, time.Second
	case Rejected:
		ff.Status = rejected
	case Stall:
		ff.Delay = time.Minute
	default:
		return ff, false
	}
	return ff, true
}

// SetPageSize pages every search of the stand-in n entries at a time.
func (f *FHIRTarget) SetPageSize(n int) bool {
	f.Server.SetPaging(n, n)
	return true
}

// TokenUse reports Issued and the requests the FHIR server received.
func (f *FHIRTarget) TokenUse() (issued, requests int) {
	if f.Issued == nil {
		return 0, 0
	}
	return f.Issued(), len(f.Server.Requests())
}

// ExpireTokens calls Expire.
func (f *FHIRTarget) ExpireTokens() bool {
	return f.Expire != nil && f.Expire()
}
