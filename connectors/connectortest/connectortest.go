// Package connectortest is the conformance kit for connectors, in the
// manner of testing/fstest: a connector's own test calls Run with a Harness
// that starts the connector against a stand-in for its EHR, and the kit
// checks what every connector must do — file a valid document exactly once,
// declare the AI that drafted it (the AI-asserted security label and a
// Provenance, or the declaration in the note where the EHR takes no
// Provenance), survive a lost response and retries, find an earlier push
// beyond the first page of a search, keep a note queued (transient) when a
// search or the token endpoint fails or refuses, reuse tokens, surface the
// EHR's reason for a refusal, send amendments, recover from expired
// tokens, honour cancellation, and be safe for concurrent use.
//
// The kit is only as strict as the Target lets it be: the cases for search
// and token faults, paging and token reuse need a Target that also
// implements Faulter, Pager and TokenCounter (FHIRTarget does, given a
// token endpoint); without them those cases are skipped, and say so.
//
// The kit never looks at the wire itself: a Target reports what the EHR
// filed and injects failures, so a vendor whose API is not FHIR
// (athenahealth's clinicaldocument form, an HL7 v2 file drop) plugs in its
// own inspection. FHIRTarget adapts a fhirtest.Server.
//
// Retries: connectors make one attempt per Push and classify failures; the
// kit retries the way the review push worker does — transient failures
// again after a short wait (RetryAfter honoured, capped so tests stay
// fast), permanent failures never.
package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

// Fault is a failure a Target can make the EHR produce on the next
// document writes.
type Fault int

const (
	// LostResponse: the EHR files the document, and the reply never
	// arrives (the connection drops).
	LostResponse Fault = iota + 1
	// Unavailable: HTTP 503 (or the vendor's transient equivalent).
	Unavailable
	// RateLimited: HTTP 429 with a Retry-After.
	RateLimited
	// Rejected: a permanent refusal (HTTP 422 with an OperationOutcome, or
	// the vendor's equivalent) whose reason is the message given to Inject.
	Rejected
	// Stall: the EHR does not answer until the client gives up.
	Stall
)

var faultNames = []string{LostResponse: "lost response", Unavailable: "unavailable", RateLimited: "rate limited", Rejected: "rejected", Stall: "stall"}

func (f Fault) String() string { return enumName("Fault", f, faultNames) }

// Where says which requests a fault strikes.
type Where int

const (
	// OnWrite: the document create (what Target.Inject strikes).
	OnWrite Where = iota
	// OnSearch: the searches and lists a connector makes to find an
	// earlier push (and any other read).
	OnSearch
	// OnToken: the token endpoint.
	OnToken
)

var whereNames = []string{OnWrite: "write", OnSearch: "search", OnToken: "token"}

func (w Where) String() string { return enumName("Where", w, whereNames) }

// enumName is v's name in names, or "Type(n)" for a value without one, as
// stringer writes it.
func enumName[T ~int](typ string, v T, names []string) string {
	if v >= 0 && int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, int(v))
}

// Faulter is a Target that can fail searches and token requests as well as
// writes. InjectAt returns false when it cannot produce f at where.
type Faulter interface {
	InjectAt(where Where, f Fault, message string, n int) bool
}

// Pager is a Target whose searches page. SetPageSize makes the EHR answer
// every search (or list) with at most n entries a page, whatever the
// connector asks for, so the kit can put an earlier push beyond the first
// page.
type Pager interface {
	SetPageSize(n int) bool
}

// TokenCounter is a Target whose EHR issues tokens. TokenUse returns how
// many tokens were issued and how many API requests (not counting the
// token requests) were made so far.
type TokenCounter interface {
	TokenUse() (issued, requests int)
}

// Filed is one document as the EHR holds it.
type Filed struct {
	// ID is the EHR's id for it.
	ID string
	// Resource is the filed FHIR resource, for EHRs that store FHIR; it is
	// checked against the R4 schema. nil for other wire formats.
	Resource json.RawMessage
	// Text is the note text as filed (decoded from the attachment).
	Text string
	// Replaces names what the document replaces (identifier value or the
	// EHR id of the earlier version); empty for an original.
	Replaces string
	// Declaration is the AI declaration where the EHR keeps it apart from
	// the note text (a footer segment, a vendor field); it must say the
	// note was drafted with AI and name the approving clinician. A
	// declaration at the end of Text (fhirdoc.Profile.Declare) is found
	// there.
	Declaration string
	// Provenances are the Provenance resources the EHR holds for the
	// document (FHIR EHRs that take them); each is checked against the R4
	// schema and must name the AI as author and a clinician as verifier,
	// and there must be at most one.
	Provenances []json.RawMessage
}

// Target is the EHR stand-in's inspection and fault injection.
type Target interface {
	// Filed returns the documents the EHR holds with the identifier value
	// ident (see connectors.Identifier).
	Filed(t testing.TB, ident string) []Filed
	// Inject makes the next n document writes fail with f; message is the
	// refusal reason for Rejected. It returns false if the target cannot
	// produce f (the subtest is skipped).
	Inject(f Fault, message string, n int) bool
	// ExpireTokens makes every access token issued so far invalid, as if it
	// expired. It returns false for EHRs without tokens (subtest skipped).
	ExpireTokens() bool
}

// Harness tells Run how to test one connector.
type Harness struct {
	// Setup starts a fresh EHR stand-in and a connector pointed at it. It
	// is called once per subtest; use t.Cleanup to stop things.
	Setup func(t *testing.T) (connectors.Connector, Target)
	// Document returns the i-th test document; nil means Document. Vendors
	// whose EHR checks patients or encounters seed them in Setup and return
	// documents that refer to them.
	Document func(t *testing.T, i int) *connectors.Document
	// MaxAttempts bounds the kit's retries of transient failures; 0 means 6.
	MaxAttempts int
	// MaxWait caps a RetryAfter the kit honours; 0 means 1s.
	MaxWait time.Duration
}

// PerTest keeps one value per running subtest, for a Harness whose
// Document must refer to what its Setup seeded (a patient, an encounter):
// Setup stores the stand-in with Set, Document finds it with Get, as the
// kit calls both with the same t. It is safe for the kit's concurrent
// subtests, and a value is dropped when its test ends. The zero value is
// ready to use.
type PerTest[V any] struct {
	mu sync.Mutex
	m  map[*testing.T]V
}

// Set keeps v for t until t ends.
func (p *PerTest[V]) Set(t *testing.T, v V) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[*testing.T]V{}
	}
	p.m[t] = v
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.m, t)
	})
}

// Get returns the value Set kept for t.
func (p *PerTest[V]) Get(t *testing.T) V {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[t]
}

// Document is a complete synthetic document whose NoteID is unique to the
// test run.
func Document(t *testing.T, i int) *connectors.Document {
	return &connectors.Document{
		NoteID:       fmt.Sprintf("note-%08x-%d", rand.Uint32(), i),
		Version:      1,
		Clinic:       "clinic-test",
		Patient:      "patient-1",
		Encounter:    "encounter-1",
		Author:       "practitioner-1",
		AuthorName:   "Dr Test Author",
		Approver:     "practitioner-2",
		ApproverName: "Dr Test Approver",
		ApprovedAt:   time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC),
		Template:     "consult",
		LOINC:        "11488-4",
		LOINCDisplay: "Consult note",
		Title:        "Consultation",
		Text:         fmt.Sprintf("Synthetic note %d.\n\nAssessment: well.\nPlan: review in 2 weeks.", i),
		Created:      time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		Drafter:      "rules",
	}
}

// Run runs the conformance subtests.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Setup == nil {
		t.Fatal("connectortest: Harness.Setup is nil")
	}
	if h.Document == nil {
		h.Document = Document
	}
	if h.MaxAttempts == 0 {
		h.MaxAttempts = 6
	}
	if h.MaxWait == 0 {
		h.MaxWait = time.Second
	}
	k := kit{h: h}
	t.Run("PushFilesOneValidDocument", k.pushFilesOne)
	t.Run("LostResponseThenRetryFilesOne", k.lostResponse)
	t.Run("TransientFailuresRecover", k.transient)
	t.Run("PermanentFailureSurfacesReason", k.permanent)
	t.Run("AmendmentReplaces", k.amendment)
	t.Run("ExpiredTokenRecovers", k.expiredToken)
	t.Run("CancellationHonoured", k.cancellation)
	t.Run("ConcurrentPushes", k.concurrent)
	t.Run("IncompleteDocumentIsPermanent", k.incomplete)
	t.Run("LostResponseBeyondFirstPage", k.pagedLostResponse)
	t.Run("SearchFaultsAreTransient", k.searchFaults)
	t.Run("TokenFaultsAreTransient", k.tokenFaults)
	t.Run("TokensReused", k.tokensReused)
}

type kit struct{ h Harness }

// push retries like the push worker: transient failures again after
// RetryAfter (capped) or a short backoff; permanent failures at once.
// It returns the receipt, the errors seen, and the final error.
func (k kit) push(ctx context.Context, c connectors.Connector, d *connectors.Document) (connectors.Receipt, []error, error) {
	return k.pushN(ctx, c, d, k.h.MaxAttempts, 0)
}

// pushN is push with its own bound on attempts and, when perAttempt is
// positive, a deadline on each attempt (for stalls).
func (k kit) pushN(ctx context.Context, c connectors.Connector, d *connectors.Document, attempts int, perAttempt time.Duration) (connectors.Receipt, []error, error) {
	var errs []error
	for attempt := range attempts {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if perAttempt > 0 {
			actx, cancel = context.WithTimeout(ctx, perAttempt)
		}
		rc, err := c.Push(actx, d)
		cancel()
		if err == nil {
			return rc, errs, nil
		}
		errs = append(errs, err)
		if connectors.IsPermanent(err) || ctx.Err() != nil {
			return rc, errs, err
		}
		wait := time.Duration(10<<attempt) * time.Millisecond
		var pe *connectors.PushError
		if errors.As(err, &pe) && pe.RetryAfter > 0 {
			wait = min(pe.RetryAfter, k.h.MaxWait)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return rc, errs, ctx.Err()
		}
	}
	return connectors.Receipt{}, errs, fmt.Errorf("connectortest: still failing after %d attempts: %w", attempts, errors.Join(errs...))
}

// mustPush pushes d once, without retries, and ends the test if it fails;
// what names the push in the failure.
func mustPush(t *testing.T, c connectors.Connector, d *connectors.Document, what string) connectors.Receipt {
	t.Helper()
	rc, err := c.Push(t.Context(), d)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return rc
}

func (k kit) filedOnce(t *testing.T, target Target, d *connectors.Document) Filed {
	t.Helper()
	ident := connectors.Identifier(d.NoteID, d.Version)
	filed := target.Filed(t, ident)
	if len(filed) != 1 {
		t.Fatalf("EHR holds %d documents with identifier %s, want exactly 1", len(filed), ident)
	}
	f := filed[0]
	text := f.Text
	// A connector for an EHR that takes no Provenance declares the AI in
	// the note (fhirdoc.Profile.Declare): the approved text, then the
	// declaration naming the approver.
	note, decl, declared := fhirdoc.SplitDeclaration(f.Text)
	if declared {
		text = note
	} else if f.Declaration != "" {
		decl, declared = f.Declaration, true
	}
	if declared {
		approver := d.ApproverName
		if approver == "" {
			approver = d.Approver
		}
		if !strings.Contains(strings.ToLower(decl), "approved by "+strings.ToLower(approver)) || !strings.Contains(decl, "AI") {
			t.Errorf("AI declaration %q does not say the note was drafted with AI and approved by %q", decl, approver)
		}
	}
	checkProvenances(t, f.Provenances)
	if !declared && len(f.Provenances) == 0 {
		t.Errorf("document %s does not declare the AI: no Provenance and no declaration in the note", ident)
	}
	if f.Resource != nil && !hasAISecurityLabel(f.Resource) {
		t.Errorf("document %s carries no %s|%s security label", ident, fhirdoc.ObservationValueSystem, fhirdoc.AIAssertedCode)
	}
	if text != d.Text {
		t.Errorf("filed text %q, want the approved text %q", f.Text, d.Text)
	}
	if f.Resource != nil {
		if err := fhirtest.Schema(t).Validate(f.Resource); err != nil {
			t.Errorf("filed resource is not valid FHIR R4: %v", err)
		}
	}
	return f
}

func (k kit) pushFilesOne(t *testing.T) {
	c, target := k.h.Setup(t)
	d := k.h.Document(t, 0)
	rc := mustPush(t, c, d, "Push")
	if rc.ExternalID == "" || rc.Duplicate {
		t.Errorf("receipt %+v: want an ExternalID and Duplicate false", rc)
	}
	f := k.filedOnce(t, target, d)
	if f.Replaces != "" {
		t.Errorf("an original document replaces %q", f.Replaces)
	}
	again := mustPush(t, c, d, "second Push of the same version")
	if !again.Duplicate {
		t.Errorf("second Push receipt %+v: want Duplicate", again)
	}
	k.filedOnce(t, target, d)
}

// pushLosingReply pushes d with retries while the target loses the reply
// to one request, and returns the failures the attempts saw. A target
// that cannot lose a reply skips the test; a loss that never surfaces as
// a failure fails it.
func (k kit) pushLosingReply(t *testing.T, c connectors.Connector, target Target, d *connectors.Document) []error {
	t.Helper()
	if !target.Inject(LostResponse, "", 1) {
		t.Skip("target cannot lose a response")
	}
	_, errs, err := k.push(t.Context(), c, d)
	if err != nil {
		t.Fatalf("push with retries: %v", err)
	}
	if len(errs) == 0 {
		t.Fatal("the lost response did not surface as an error (fault not hit?)")
	}
	return errs
}

func (k kit) lostResponse(t *testing.T) {
	c, target := k.h.Setup(t)
	d := k.h.Document(t, 0)
	errs := k.pushLosingReply(t, c, target, d)
	if connectors.IsPermanent(errs[0]) {
		t.Errorf("lost response classified permanent: %v", errs[0])
	}
	k.filedOnce(t, target, d)
}

func (k kit) transient(t *testing.T) {
	for _, f := range []Fault{Unavailable, RateLimited} {
		t.Run(f.String(), func(t *testing.T) {
			c, target := k.h.Setup(t)
			if !target.Inject(f, "", 2) {
				t.Skipf("target cannot produce %v", f)
			}
			d := k.h.Document(t, 0)
			_, errs, err := k.push(t.Context(), c, d)
			if err != nil {
				t.Fatalf("push with retries: %v", err)
			}
			if len(errs) != 2 {
				t.Fatalf("saw %d failures before success, want 2: %v", len(errs), errs)
			}
			for _, e := range errs {
				var pe *connectors.PushError
				if !errors.As(e, &pe) || pe.Permanent {
					t.Errorf("failure %v: want a transient *connectors.PushError", e)
				}
				if f == RateLimited && pe != nil && pe.RetryAfter <= 0 {
					t.Errorf("429 failure %+v carries no RetryAfter", pe)
				}
			}
			k.filedOnce(t, target, d)
		})
	}
}

func (k kit) permanent(t *testing.T) {
	c, target := k.h.Setup(t)
	const reason = "Encounter 4711 is closed and cannot take new notes"
	if !target.Inject(Rejected, reason, 1) {
		t.Skip("target cannot reject")
	}
	d := k.h.Document(t, 0)
	_, errs, err := k.push(t.Context(), c, d)
	if err == nil {
		t.Fatal("push of a rejected document succeeded")
	}
	if len(errs) != 1 {
		t.Errorf("a permanent failure was retried: %d attempts", len(errs))
	}
	var pe *connectors.PushError
	if !errors.As(err, &pe) || !pe.Permanent {
		t.Fatalf("error %v: want a permanent *connectors.PushError", err)
	}
	if !strings.Contains(pe.Message, reason) {
		t.Errorf("PushError.Message %q does not carry the EHR's reason %q", pe.Message, reason)
	}
	if n := len(target.Filed(t, connectors.Identifier(d.NoteID, d.Version))); n != 0 {
		t.Errorf("%d documents filed after a rejection", n)
	}
}

func (k kit) amendment(t *testing.T) {
	c, target := k.h.Setup(t)
	v1 := k.h.Document(t, 0)
	rc := mustPush(t, c, v1, "Push v1")
	v2 := *v1
	v2.Version = 2
	v2.Text = v1.Text + "\nAddendum: bloods normal."
	v2.Replaces = connectors.Identifier(v1.NoteID, v1.Version)
	v2.ReplacesExternalID = rc.ExternalID
	mustPush(t, c, &v2, "Push v2")
	f := k.filedOnce(t, target, &v2)
	if f.Replaces == "" {
		t.Error("the amendment does not say what it replaces")
	} else if f.Replaces != v2.Replaces && !strings.Contains(rc.ExternalID, f.Replaces) && !strings.Contains(f.Replaces, rc.ExternalID) {
		t.Errorf("amendment replaces %q, want %q or %q", f.Replaces, v2.Replaces, rc.ExternalID)
	}
	k.filedOnce(t, target, v1)
}

func (k kit) expiredToken(t *testing.T) {
	c, target := k.h.Setup(t)
	d1 := k.h.Document(t, 0)
	mustPush(t, c, d1, "Push")
	if !target.ExpireTokens() {
		t.Skip("target has no tokens")
	}
	d2 := k.h.Document(t, 1)
	mustPush(t, c, d2, "Push after the token expired (a connector must refresh and resend once)")
	k.filedOnce(t, target, d2)
}

func (k kit) cancellation(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		c, target := k.h.Setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		d := k.h.Document(t, 0)
		_, err := c.Push(ctx, d)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Push with a cancelled context = %v, want an error wrapping context.Canceled", err)
		}
		if n := len(target.Filed(t, connectors.Identifier(d.NoteID, d.Version))); n != 0 {
			t.Errorf("%d documents filed with a cancelled context", n)
		}
	})
	t.Run("during", func(t *testing.T) {
		c, target := k.h.Setup(t)
		if !target.Inject(Stall, "", 1) {
			t.Skip("target cannot stall")
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Push(ctx, k.h.Document(t, 0))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Push to a stalled EHR = %v, want an error wrapping context.DeadlineExceeded", err)
		}
		if connectors.IsPermanent(err) {
			t.Errorf("a cancelled push is permanent: %v", err)
		}
	})
}

func (k kit) concurrent(t *testing.T) {
	c, target := k.h.Setup(t)
	const n = 8
	docs := make([]*connectors.Document, n)
	for i := range docs {
		docs[i] = k.h.Document(t, i)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, d := range docs {
		wg.Go(func() {
			_, errs[i] = c.Push(t.Context(), d)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("document %d: %v", i, err)
		}
	}
	for _, d := range docs {
		k.filedOnce(t, target, d)
	}
}

func (k kit) incomplete(t *testing.T) {
	c, target := k.h.Setup(t)
	d := k.h.Document(t, 0)
	d.Text = ""
	_, err := c.Push(t.Context(), d)
	if !connectors.IsPermanent(err) {
		t.Errorf("Push of a document without text = %v, want a permanent failure", err)
	}
	if n := len(target.Filed(t, connectors.Identifier(d.NoteID, d.Version))); n != 0 {
		t.Errorf("%d documents filed without text", n)
	}
}

// checkProvenances checks the Provenances filed for one document: at most
// one, valid R4, with the AI as author and a clinician as verifier.
func checkProvenances(t *testing.T, provs []json.RawMessage) {
	t.Helper()
	if len(provs) > 1 {
		t.Errorf("EHR holds %d Provenances for one document, want at most 1", len(provs))
	}
	for _, raw := range provs {
		if err := fhirtest.Schema(t).Validate(raw); err != nil {
			t.Errorf("filed Provenance is not valid FHIR R4: %v", err)
		}
		var p struct {
			Agent []struct {
				Type struct {
					Coding []struct{ System, Code string }
				}
				Role []struct {
					Coding []struct{ System, Code string }
				}
				Who struct{ Reference, Type string }
			}
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Errorf("filed Provenance: %v", err)
			continue
		}
		ai, verifier := false, false
		for _, a := range p.Agent {
			for _, r := range a.Role {
				for _, c := range r.Coding {
					ai = ai || (c.System == fhirdoc.AIDeviceTypeSystem && c.Code == fhirdoc.AIDeviceTypeCode)
				}
			}
			for _, c := range a.Type.Coding {
				verifier = verifier || (c.System == fhirdoc.ParticipantTypeSystem && c.Code == "verifier")
			}
		}
		if !ai || !verifier {
			t.Errorf("Provenance names the AI (%s#%s): %v; a verifier: %v; want both", fhirdoc.AIDeviceTypeSystem, fhirdoc.AIDeviceTypeCode, ai, verifier)
		}
	}
}

func hasAISecurityLabel(raw json.RawMessage) bool {
	var r struct {
		Meta struct {
			Security []struct{ System, Code string }
		}
	}
	if json.Unmarshal(raw, &r) != nil {
		return false
	}
	return slices.ContainsFunc(r.Meta.Security, func(c struct{ System, Code string }) bool {
		return c.System == fhirdoc.ObservationValueSystem && c.Code == fhirdoc.AIAssertedCode
	})
}

// pagedLostResponse: earlier documents of the same patient fill the first
// pages of the EHR's search; the reply to the create is lost; the retry
// must find the document on the last page rather than file it again.
func (k kit) pagedLostResponse(t *testing.T) {
	c, target := k.h.Setup(t)
	pager, ok := target.(Pager)
	if !ok || !pager.SetPageSize(pagedPageSize) {
		t.Skip("target does not page its searches (implement connectortest.Pager)")
	}
	for i := 1; i <= pagedEarlier; i++ {
		if _, _, err := k.push(t.Context(), c, k.h.Document(t, i)); err != nil {
			t.Fatalf("earlier document %d: %v", i, err)
		}
	}
	d := k.h.Document(t, 0)
	k.pushLosingReply(t, c, target, d)
	k.filedOnce(t, target, d)
}

// The paged case files pagedEarlier documents first and pages the EHR's
// searches pagedPageSize to a page, so the document whose reply is lost is
// on the third page.
const (
	pagedEarlier  = 7
	pagedPageSize = 3
)

// searchFaults: after a lost reply the connector must look for the
// document, and the look fails every way a real EHR's does — 503, 429 with
// Retry-After, a refusal (403 with an OperationOutcome), a stall. Each must
// be a transient failure (the note was not judged), and the document is
// filed exactly once in the end.
func (k kit) searchFaults(t *testing.T) {
	c, target := k.h.Setup(t)
	f, ok := target.(Faulter)
	if !ok {
		t.Skip("target cannot fail searches (implement connectortest.Faulter)")
	}
	if !target.Inject(LostResponse, "", 1) {
		t.Skip("target cannot lose a response")
	}
	k.transientFaults(t, c, target, f, OnSearch, []Fault{Unavailable, RateLimited, Rejected, Stall},
		"Search is not permitted for this client", "a failed search or lost reply")
}

// transientFaults injects each fault once at point, pushes a document with
// retries and requires that no failure was permanent and the document was
// filed exactly once; it returns the failures seen on the way.
func (k kit) transientFaults(t *testing.T, c connectors.Connector, target Target, f Faulter, at Where, faults []Fault, message, what string) []error {
	t.Helper()
	for _, fault := range faults {
		if !f.InjectAt(at, fault, message, 1) {
			t.Skipf("target cannot produce %v at %v", fault, at)
		}
	}
	d := k.h.Document(t, 0)
	_, errs, err := k.pushN(t.Context(), c, d, 12, 500*time.Millisecond)
	if err != nil {
		t.Fatalf("push with retries: %v", err)
	}
	for _, e := range errs {
		if connectors.IsPermanent(e) {
			t.Errorf("%s failed the note for good: %v", what, e)
		}
	}
	k.filedOnce(t, target, d)
	return errs
}

// tokenFaults: the token endpoint fails every way a real one does while a
// fresh token is needed — 503, 429, a refusal of the client
// (invalid_client), a token issued whose reply is lost, a stall. Each is
// transient (the gateway's credentials or the EHR are at fault, not the
// note), and the note is filed once in the end.
func (k kit) tokenFaults(t *testing.T) {
	c, target := k.h.Setup(t)
	f, ok := target.(Faulter)
	if !ok {
		t.Skip("target cannot fail token requests (implement connectortest.Faulter)")
	}
	mustPush(t, c, k.h.Document(t, 1), "first Push")
	if !target.ExpireTokens() {
		t.Skip("target has no tokens")
	}
	errs := k.transientFaults(t, c, target, f, OnToken, []Fault{Unavailable, RateLimited, Rejected, LostResponse, Stall},
		"client authentication failed", "a token failure")
	if len(errs) == 0 {
		t.Error("no token fault surfaced (does the connector fetch a new token after one expired?)")
	}
}

// tokensReused: a token is reused until it expires; a connector that asks
// for a new grant per request hammers an endpoint every vendor rate-limits.
func (k kit) tokensReused(t *testing.T) {
	c, target := k.h.Setup(t)
	tc, ok := target.(TokenCounter)
	if !ok {
		t.Skip("target does not count tokens (implement connectortest.TokenCounter)")
	}
	for i := range 4 {
		mustPush(t, c, k.h.Document(t, i), fmt.Sprintf("Push %d", i))
	}
	var wg sync.WaitGroup
	for i := 4; i < 8; i++ {
		wg.Go(func() {
			if _, err := c.Push(t.Context(), k.h.Document(t, i)); err != nil {
				t.Errorf("Push %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	issued, requests := tc.TokenUse()
	if requests == 0 {
		t.Skip("the target counted no API requests")
	}
	if issued*2 > requests {
		t.Errorf("%d tokens issued for %d API requests: tokens must be reused until they expire", issued, requests)
	}
}
