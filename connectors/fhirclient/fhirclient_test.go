package fhirclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirclient"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

const doc = `{"resourceType":"DocumentReference","status":"current","identifier":[{"system":"s","value":"v"}],"subject":{"reference":"Patient/1"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`

func TestRefreshesTokenOnceAfter401(t *testing.T) {
	srv := fhirtest.NewServer(t)
	var issued, valid atomic.Int64
	srv.SetAuth(func(r *http.Request) error {
		if r.Header.Get("Authorization") != fmt.Sprintf("Bearer t%d", valid.Load()) {
			return errors.New("expired")
		}
		return nil
	})
	fetch := fhirclient.CachedToken(func(context.Context) (string, time.Duration, error) {
		n := issued.Add(1)
		return fmt.Sprintf("t%d", n), time.Hour, nil
	})
	valid.Store(1)
	c := &fhirclient.Client{Base: srv.URL, Auth: fetch}
	if _, err := c.Create(t.Context(), "DocumentReference", []byte(doc), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(t.Context(), "DocumentReference", []byte(doc), "identifier=s|v"); err != nil {
		t.Fatal(err)
	}
	if issued.Load() != 1 {
		t.Fatalf("%d tokens fetched for two requests, want 1 (cached)", issued.Load())
	}
	valid.Store(2) // the server expires t1; the next token will be t2
	cr, err := c.Create(t.Context(), "DocumentReference", []byte(doc), "identifier=s|v")
	if err != nil {
		t.Fatalf("Create after expiry: %v", err)
	}
	if !cr.Existing || cr.ID == "" {
		t.Errorf("Created %+v, want the existing document", cr)
	}
	valid.Store(99) // no token the client can get is valid: one refresh, then fail
	_, err = c.Create(t.Context(), "DocumentReference", []byte(doc), "")
	var pe *connectors.PushError
	if !errors.As(err, &pe) || pe.StatusCode != 401 || !pe.Permanent || pe.Message != "expired" {
		t.Errorf("Create with bad credentials = %#v", err)
	}
}

func TestStatusError(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		permanent bool
		msg       string
	}{
		{503, "", false, "Service Unavailable"},
		{429, "slow down", false, "slow down"},
		{408, "", false, "Request Timeout"},
		{400, string(fhirtest.OperationOutcome("invalid", "bad subject")), true, "bad subject"},
		{422, "<html>nope</html>", true, "Unprocessable Entity"},
		{404, "", true, "Not Found"},
	}
	for _, tt := range tests {
		h := http.Header{"Retry-After": {"7"}}
		e := fhirclient.StatusError(tt.status, h, []byte(tt.body))
		if e.Permanent != tt.permanent || e.Message != tt.msg || e.StatusCode != tt.status || e.RetryAfter != 7*time.Second {
			t.Errorf("StatusError(%d, %q) = %+v", tt.status, tt.body, e)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"3", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		if got := fhirclient.RetryAfter(http.Header{"Retry-After": {tt.v}}, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}

func TestIDFromLocation(t *testing.T) {
	for loc, want := range map[string]string{
		"":                                   "",
		"DocumentReference/12/_history/1":    "12",
		"https://x/r4/DocumentReference/abc": "abc",
	} {
		if got := fhirclient.IDFromLocation("DocumentReference", loc); got != want {
			t.Errorf("IDFromLocation(%q) = %q, want %q", loc, got, want)
		}
	}
}

func TestSearchIdentifierAndNetworkErrors(t *testing.T) {
	srv := fhirtest.NewServer(t)
	c := &fhirclient.Client{Base: srv.URL, Header: http.Header{"Ah-Practice": {"Organization/a-1.Practice-195900"}}}
	if _, err := c.Create(t.Context(), "DocumentReference", []byte(doc), ""); err != nil {
		t.Fatal(err)
	}
	found, err := c.SearchIdentifier(t.Context(), "DocumentReference", "s", "v")
	if err != nil || len(found) != 1 {
		t.Fatalf("SearchIdentifier = %v, %v", found, err)
	}
	reqs := srv.Requests()
	last := reqs[len(reqs)-1]
	if last.Header.Get("Ah-Practice") == "" || last.Header.Get("User-Agent") != fhirclient.DefaultUserAgent || last.Query.Get("identifier") != "s|v" {
		t.Errorf("request %+v lacks the client's headers or query", last)
	}
	if _, err := c.Search(t.Context(), "DocumentReference", url.Values{"identifier": {"s|w"}}); err != nil {
		t.Errorf("empty search: %v", err)
	}

	dead := &fhirclient.Client{Base: "http://127.0.0.1:1", Timeout: time.Second}
	_, err = dead.Create(t.Context(), "DocumentReference", []byte(doc), "")
	var pe *connectors.PushError
	if !errors.As(err, &pe) || pe.Permanent || pe.StatusCode != 0 {
		t.Errorf("unreachable server: %#v, want a transient PushError", err)
	}
}

func TestCanCreate(t *testing.T) {
	cs := `{"resourceType":"CapabilityStatement","rest":[{"mode":"server","resource":[
		{"type":"Patient","interaction":[{"code":"create"}]},
		{"type":"DocumentReference","interaction":[{"code":"read"},{"code":"search-type"}]},
		{"type":"Provenance","interaction":[{"code":"read"},{"code":"create"}]}]}]}`
	for _, tc := range []struct {
		resourceType string
		want         bool
	}{{"DocumentReference", false}, {"Provenance", true}, {"Patient", true}, {"Binary", false}} {
		if got, err := fhirclient.CanCreate([]byte(cs), tc.resourceType); err != nil || got != tc.want {
			t.Errorf("CanCreate(%s) = %v, %v; want %v", tc.resourceType, got, err, tc.want)
		}
	}
	if _, err := fhirclient.CanCreate([]byte("<html>"), "DocumentReference"); err == nil {
		t.Error("CanCreate accepted a body that is not JSON")
	}
	res := fhirclient.CreateCheck([]byte(cs), "DocumentReference")
	if res.OK || res.Name != "capabilities: DocumentReference create" || !strings.Contains(res.Detail, "does not list DocumentReference create") {
		t.Errorf("CreateCheck = %+v", res)
	}
}

func TestSearchFollowsNextLinks(t *testing.T) {
	srv := fhirtest.NewServer(t)
	srv.SetPaging(3, 3)
	for range 8 {
		if _, err := srv.Seed([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	c := &fhirclient.Client{Base: srv.URL}
	b, err := c.Search(t.Context(), "DocumentReference", url.Values{"patient": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.Matches()); n != 8 {
		t.Errorf("%d matches over the pages, want 8", n)
	}
	gets := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet {
			gets++
			if r.Query.Get("patient") != "1" {
				t.Errorf("page request %v lost the search parameters", r.Query)
			}
		}
	}
	if gets != 3 {
		t.Errorf("%d page requests, want 3", gets)
	}
	if got := srv.Requests()[0].Query.Get("_count"); got != "100" {
		t.Errorf("first request _count = %q, want the client's default 100", got)
	}

	// Capped: more pages than the client reads is a transient failure,
	// never a partial answer.
	capped := &fhirclient.Client{Base: srv.URL, MaxPages: 2}
	_, err = capped.Search(t.Context(), "DocumentReference", nil)
	if !errors.Is(err, fhirclient.ErrSearchTruncated) || connectors.IsPermanent(err) {
		t.Errorf("capped search = %v, want a transient failure wrapping ErrSearchTruncated", err)
	}
}

func TestSearchRefusesNextLinkOffBase(t *testing.T) {
	other := fhirtest.NewServer(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/fhir/DocumentReference", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		fmt.Fprintf(w, `{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":%q}],"entry":[]}`, other.URL+"/DocumentReference?page=2")
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c := &fhirclient.Client{Base: ts.URL + "/fhir", Auth: fhirclient.StaticToken("secret")}
	_, err := c.Search(t.Context(), "DocumentReference", nil)
	if !errors.Is(err, fhirclient.ErrSearchTruncated) {
		t.Fatalf("err = %v, want ErrSearchTruncated", err)
	}
	if n := len(other.Requests()); n != 0 {
		t.Errorf("the other server got %d requests (with our token)", n)
	}
}
