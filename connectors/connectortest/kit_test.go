package connectortest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/internal/standin"
)

// flaws are the mistakes an integrator makes that the kit must catch; the
// zero value is a correct connector.
type flaws struct {
	firstPageOnly          bool // reads one page of the search for an earlier push
	tokenPerRequest        bool // asks for a new token on every request
	refusedSearchPermanent bool // a refused search fails the note for good
	tokenFailurePermanent  bool // a failing token endpoint fails the note for good
	noDeclaration          bool // no Provenance, no declaration in the note
}

// broken maps each flawed connector to the kit case that must catch it.
var broken = map[string]struct {
	flaws flaws
	catch string
}{
	"first-page-only":          {flaws{firstPageOnly: true}, "LostResponseBeyondFirstPage"},
	"token-per-request":        {flaws{tokenPerRequest: true}, "TokensReused"},
	"refused-search-permanent": {flaws{refusedSearchPermanent: true}, "SearchFaultsAreTransient"},
	"token-failure-permanent":  {flaws{tokenFailurePermanent: true}, "TokenFaultsAreTransient"},
	"no-ai-declaration":        {flaws{noDeclaration: true}, "PushFilesOneValidDocument"},
}

// TestKitPassesACorrectConnector: the reference connector below, without
// flaws, passes every case (none skipped for want of a capability).
func TestKitPassesACorrectConnector(t *testing.T) {
	connectortest.Run(t, harness(flaws{}))
}

// TestKitCatchesBrokenConnectors runs the kit on each flawed connector in
// a child process (a failing kit fails its *testing.T, which cannot be
// caught in-process) and expects it to fail, in the case meant to catch
// that flaw.
func TestKitCatchesBrokenConnectors(t *testing.T) {
	if name := os.Getenv("CONNECTORTEST_BROKEN"); name != "" {
		connectortest.Run(t, harness(broken[name].flaws))
		return
	}
	for name, b := range broken {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKitCatchesBrokenConnectors$/^"+b.catch+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "CONNECTORTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the kit passed a connector with flaw %q:\n%s", name, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestKitCatchesBrokenConnectors/"+b.catch+" ") {
				t.Errorf("flaw %q: case %s did not fail:\n%s", name, b.catch, out)
			}
		})
	}
}

func harness(f flaws) connectortest.Harness {
	return connectortest.Harness{
		Setup: func(t *testing.T) (connectors.Connector, connectortest.Target) {
			ehr := newEHR(t)
			return newConnector(ehr, f), ehr.target()
		},
	}
}

// ehr is a FHIR server behind a client-credentials token endpoint.
type ehr struct {
	fhir   *fhirtest.Server
	token  *fhirtest.TokenFaults
	base   string
	tokURL string

	tokens standin.Tokens
}

func newEHR(t *testing.T) *ehr {
	e := &ehr{fhir: fhirtest.NewServer(t)}
	e.token = &fhirtest.TokenFaults{Handler: http.HandlerFunc(e.issue)}
	mux := http.NewServeMux()
	mux.Handle("POST /token", e.token)
	mux.Handle("/fhir/", http.StripPrefix("/fhir", e.fhir))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	e.base, e.tokURL = ts.URL+"/fhir", ts.URL+"/token"
	e.fhir.URL = e.base
	e.fhir.SetAuth(func(r *http.Request) error { return e.tokens.Check(r, time.Now()) })
	return e
}

func (e *ehr) issue(w http.ResponseWriter, r *http.Request) {
	if id, secret, ok := r.BasicAuth(); !ok || id != "kit" || secret != "kit-secret" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	tok := e.tokens.Issue(time.Time{}, -1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (e *ehr) target() *connectortest.FHIRTarget {
	return &connectortest.FHIRTarget{
		Server: e.fhir,
		Token:  e.token,
		Expire: func() bool { e.tokens.RevokeAll(); return true },
		Issued: e.tokens.Issued,
	}
}

// errToken marks a failure of the token endpoint.
var errToken = errors.New("token endpoint refused")

// conn is the reference connector: it searches the patient's documents
// for an earlier push before creating (no conditional create), files a
// Provenance, and caches its token — unless told to get something wrong.
type conn struct {
	fc      *fhirclient.Client
	profile fhirdoc.Profile
	f       flaws
}

func newConnector(e *ehr, f flaws) *conn {
	fetch := func(ctx context.Context) (string, time.Duration, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.tokURL, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("kit", "kit-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", 0, fhirclient.NetworkError(ctx, err)
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil {
			return "", 0, &connectors.PushError{Permanent: f.tokenFailurePermanent, StatusCode: resp.StatusCode,
				Message: "token endpoint refused", RetryAfter: fhirclient.RetryAfter(resp.Header, time.Now()), Err: errToken}
		}
		return tok.AccessToken, time.Duration(tok.ExpiresIn) * time.Second, nil
	}
	auth := fhirclient.CachedToken(fetch)
	if f.tokenPerRequest {
		auth = func(ctx context.Context, _ bool) (string, error) { tok, _, err := fetch(ctx); return tok, err }
	}
	return &conn{
		fc:      &fhirclient.Client{Base: e.base, Auth: auth, Timeout: 5 * time.Second},
		profile: fhirdoc.Profile{},
		f:       f,
	}
}

func (c *conn) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	body, err := fhirdoc.DocumentReferenceJSON(d, c.profile)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	id, found, err := c.find(ctx, d)
	if err != nil {
		if c.f.refusedSearchPermanent || (c.f.tokenFailurePermanent && errors.Is(err, errToken)) {
			return connectors.Receipt{}, err
		}
		return connectors.Receipt{}, connectors.NotJudged(err, "cannot check for an earlier push")
	}
	if !found {
		cr, err := c.fc.Create(ctx, fhirdoc.DocumentReferenceType, body, "")
		if err != nil {
			return connectors.Receipt{}, err
		}
		id = cr.ID
	}
	if !c.f.noDeclaration {
		if err := c.fc.FileProvenance(ctx, d, id, c.profile, !found); err != nil {
			return connectors.Receipt{}, err
		}
	}
	return connectors.Receipt{ExternalID: id, Duplicate: found}, nil
}

func (c *conn) find(ctx context.Context, d *connectors.Document) (string, bool, error) {
	q := url.Values{"patient": {d.Patient}}
	var b fhirdoc.Bundle
	if c.f.firstPageOnly {
		resp, err := c.fc.Do(ctx, http.MethodGet, fhirdoc.DocumentReferenceType, q, nil, nil)
		if err != nil {
			return "", false, err
		}
		if b, err = fhirdoc.DecodeBundle(resp.Body); err != nil {
			return "", false, err
		}
	} else {
		var err error
		if b, err = c.fc.Search(ctx, fhirdoc.DocumentReferenceType, q); err != nil {
			return "", false, err
		}
	}
	id := c.profile.NoteIdentifier(d)
	for _, r := range b.Matches() {
		if r.HasIdentifier(*id.System, *id.Value) {
			return r.ID, true, nil
		}
	}
	return "", false, nil
}
