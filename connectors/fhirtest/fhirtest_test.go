package fhirtest_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

const doc = `{"resourceType":"DocumentReference","status":"current","identifier":[{"system":"urn:scribegate:note","value":"n1-v1"}],"subject":{"reference":"Patient/1"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`

func post(t *testing.T, s *fhirtest.Server, path, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// create posts each resource (JSON) to s as its resourceType's create.
func create(t *testing.T, s *fhirtest.Server, resources ...string) {
	t.Helper()
	for _, r := range resources {
		var head struct{ ResourceType string }
		if err := json.Unmarshal([]byte(r), &head); err != nil {
			t.Fatal(err)
		}
		if resp, body := post(t, s, head.ResourceType, r, nil); resp.StatusCode != 201 {
			t.Fatalf("create: %d %s", resp.StatusCode, body)
		}
	}
}

// match is a search (the path and query string) and how many resources
// it must match.
type match struct {
	query string
	want  int
}

// wantMatches runs each search against s and checks that it answers a
// searchset Bundle whose matches and total are the number wanted.
func wantMatches(t *testing.T, s *fhirtest.Server, matches []match) {
	t.Helper()
	for _, m := range matches {
		resp, body := get(t, s, m.query)
		b, err := fhirdoc.DecodeBundle(body)
		if err != nil || resp.StatusCode != 200 || b.Type != "searchset" || len(b.Matches()) != m.want || b.Total == nil || *b.Total != m.want {
			t.Errorf("%s: %d %s (%v), want %d matches", m.query, resp.StatusCode, body, err, m.want)
		}
	}
}

func get(t *testing.T, s *fhirtest.Server, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(s.URL + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestCreateReadSearch(t *testing.T) {
	s := fhirtest.NewServer(t)
	resp, body := post(t, s, "DocumentReference", doc, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, s.URL+"/DocumentReference/") {
		t.Fatalf("Location %q", loc)
	}
	created, err := fhirdoc.DecodeLenient(body)
	if err != nil || created.ID == "" || created.Meta.VersionID != "1" {
		t.Fatalf("created %+v %v", created, err)
	}

	resp, body = get(t, s, "DocumentReference/"+created.ID)
	if r, _ := fhirdoc.DecodeLenient(body); resp.StatusCode != 200 || r.ID != created.ID {
		t.Errorf("read: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, s, "DocumentReference/999"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("read unknown: %d", resp.StatusCode)
	}

	wantMatches(t, s, []match{
		{"DocumentReference?identifier=urn:scribegate:note|n1-v1", 1},
		{"DocumentReference?identifier=n1-v1", 1},
		{"DocumentReference?identifier=other|n1-v1", 0},
		{"DocumentReference?identifier=urn:scribegate:note|n1-v2", 0},
		{"DocumentReference?_id=" + created.ID, 1},
		{"DocumentReference?subject=Patient/1", 1},
		{"DocumentReference?subject=Patient/2", 0},
	})
	if got := len(s.Find("DocumentReference", "urn:scribegate:note", "n1-v1")); got != 1 {
		t.Errorf("Find = %d", got)
	}
	if got := len(s.Resources("DocumentReference")); got != 1 {
		t.Errorf("Resources = %d", got)
	}

	resp, body = get(t, s, "metadata")
	var cs struct{ ResourceType, FhirVersion string }
	if json.Unmarshal(body, &cs); resp.StatusCode != 200 || cs.ResourceType != "CapabilityStatement" || cs.FhirVersion != "4.0.1" {
		t.Errorf("metadata: %d %s", resp.StatusCode, body)
	}
}

func TestCreateRejectsInvalid(t *testing.T) {
	s := fhirtest.NewServer(t)
	for _, tc := range []struct{ name, path, body, want string }{
		{"status null", "DocumentReference", strings.Replace(doc, `"current"`, "null", 1), "/status"},
		{"content missing", "DocumentReference", `{"resourceType":"DocumentReference","status":"current"}`, "content"},
		{"type mismatch", "Provenance", doc, "posted to /Provenance"},
		{"not JSON", "DocumentReference", "{", "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, s, tc.path, tc.body, nil)
			msg, ok := fhirdoc.ParseOperationOutcome(body)
			if resp.StatusCode != http.StatusBadRequest || !ok || !strings.Contains(msg+string(body), tc.want) {
				t.Errorf("got %d %s, want 400 OperationOutcome mentioning %q", resp.StatusCode, body, tc.want)
			}
		})
	}
	if n := len(s.Resources("DocumentReference")); n != 0 {
		t.Errorf("%d documents stored from invalid posts", n)
	}
}

func TestConditionalCreate(t *testing.T) {
	s := fhirtest.NewServer(t)
	cond := map[string]string{"If-None-Exist": "identifier=urn:scribegate:note|n1-v1"}
	first, b1 := post(t, s, "DocumentReference", doc, cond)
	second, b2 := post(t, s, "DocumentReference", doc, cond)
	if first.StatusCode != http.StatusCreated || second.StatusCode != http.StatusOK {
		t.Fatalf("statuses %d, %d; want 201, 200", first.StatusCode, second.StatusCode)
	}
	r1, _ := fhirdoc.DecodeLenient(b1)
	r2, _ := fhirdoc.DecodeLenient(b2)
	if r1.ID != r2.ID || first.Header.Get("Location") != second.Header.Get("Location") {
		t.Errorf("conditional create returned %q then %q", r1.ID, r2.ID)
	}
	if n := len(s.Resources("DocumentReference")); n != 1 {
		t.Errorf("%d documents, want 1", n)
	}
	minimal, body := post(t, s, "DocumentReference", strings.Replace(doc, "n1-v1", "n2-v1", 1), map[string]string{"Prefer": "return=minimal"})
	if minimal.StatusCode != http.StatusCreated || len(body) != 0 || minimal.Header.Get("Location") == "" {
		t.Errorf("return=minimal: %d %q", minimal.StatusCode, body)
	}
	if resp, _ := post(t, s, "DocumentReference", doc, map[string]string{"If-None-Exist": "status=current"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unsupported condition: %d", resp.StatusCode)
	}
}

func TestFaults(t *testing.T) {
	s := fhirtest.NewServer(t)
	s.Inject(fhirtest.Fault{Method: http.MethodPost, Status: http.StatusTooManyRequests, RetryAfter: 1500 * time.Millisecond}, 1)
	s.Inject(fhirtest.Fault{Method: http.MethodPost, Status: http.StatusUnprocessableEntity, Message: "Encounter is closed"}, 1)
	s.Inject(fhirtest.Fault{Method: http.MethodPost, Drop: true}, 1)

	// A GET is not hit by POST faults.
	if resp, _ := get(t, s, "metadata"); resp.StatusCode != 200 {
		t.Errorf("metadata: %d", resp.StatusCode)
	}
	resp, _ := post(t, s, "DocumentReference", doc, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("429 fault: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, body := post(t, s, "DocumentReference", doc, nil)
	if msg, _ := fhirdoc.ParseOperationOutcome(body); resp.StatusCode != 422 || msg != "Encounter is closed" {
		t.Errorf("422 fault: %d %q", resp.StatusCode, msg)
	}
	if n := len(s.Resources("DocumentReference")); n != 0 {
		t.Fatalf("status faults stored %d documents", n)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/DocumentReference", strings.NewReader(doc))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped response arrived: %d", resp.StatusCode)
	}
	if n := len(s.Resources("DocumentReference")); n != 1 {
		t.Errorf("drop fault stored %d documents, want 1", n)
	}
	if s.PendingFaults() != 0 {
		t.Errorf("%d faults left", s.PendingFaults())
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[3].Status != 0 || reqs[1].Status != 429 {
		t.Errorf("requests %+v", reqs)
	}
}

// goodTokenOnly is a server that takes only "Bearer good" and refuses
// anything else as an expired token.
func goodTokenOnly(t *testing.T) *fhirtest.Server {
	s := fhirtest.NewServer(t)
	s.SetAuth(func(r *http.Request) error {
		if r.Header.Get("Authorization") != "Bearer good" {
			return errors.New("token expired")
		}
		return nil
	})
	return s
}

func TestAuth(t *testing.T) {
	s := goodTokenOnly(t)
	resp, body := post(t, s, "DocumentReference", doc, nil)
	if msg, _ := fhirdoc.ParseOperationOutcome(body); resp.StatusCode != 401 || msg != "token expired" || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %s", resp.StatusCode, body)
	}
	if resp, body := post(t, s, "DocumentReference", doc, map[string]string{"Authorization": "Bearer good"}); resp.StatusCode != 201 {
		t.Errorf("good token: %d %s", resp.StatusCode, body)
	}
}

func TestConcurrentCreates(t *testing.T) {
	s := fhirtest.NewServer(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			body := strings.Replace(doc, "n1-v1", "n"+string(rune('a'+i))+"-v1", 1)
			post(t, s, "DocumentReference", body, map[string]string{"If-None-Exist": "identifier=urn:scribegate:note|n" + string(rune('a'+i)) + "-v1"})
		})
	}
	wg.Wait()
	if n := len(s.Resources("DocumentReference")); n != 20 {
		t.Errorf("%d documents, want 20", n)
	}
}

func TestSeed(t *testing.T) {
	s := fhirtest.NewServer(t)
	id, err := s.Seed([]byte(`{"resourceType":"Patient","identifier":[{"system":"http://ns.electronichealth.net.au/id/hi/ihi/1.0","value":"8003608166690503"}]}`))
	if err != nil || id == "" {
		t.Fatalf("Seed = %q, %v", id, err)
	}
	if _, err := s.Seed([]byte(`{"resourceType":"Patient","gender":"sometimes"}`)); err == nil {
		t.Error("Seed accepted an invalid Patient")
	}
	if got := s.Find("Patient", "http://ns.electronichealth.net.au/id/hi/ihi/1.0", "8003608166690503"); len(got) != 1 {
		t.Errorf("Find = %d", len(got))
	}
}

func TestDelayHonoursClientGivingUp(t *testing.T) {
	s := fhirtest.NewServer(t)
	s.Inject(fhirtest.Fault{Method: http.MethodPost, Delay: time.Minute}, 1)
	c := &http.Client{Timeout: 50 * time.Millisecond}
	resp, err := c.Post(s.URL+"/DocumentReference", "application/fhir+json", strings.NewReader(doc))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("stalled request answered %d", resp.StatusCode)
	}
	s.Inject(fhirtest.Fault{Method: http.MethodPost, Delay: time.Millisecond}, 1)
	if resp, body := post(t, s, "DocumentReference", doc, nil); resp.StatusCode != http.StatusCreated {
		t.Errorf("short delay then create: %d %s", resp.StatusCode, body)
	}
	if n := len(s.Resources("DocumentReference")); n != 1 {
		t.Errorf("%d documents, want 1 (the stalled one must not be stored)", n)
	}
}

// A request refused for its token must not use up a fault: the fault is
// meant for the request that reaches the server's handling.
func TestAuthBeforeFault(t *testing.T) {
	s := goodTokenOnly(t)
	s.Inject(fhirtest.Fault{Method: http.MethodPost, Status: http.StatusServiceUnavailable}, 1)
	if resp, _ := post(t, s, "DocumentReference", doc, map[string]string{"Authorization": "Bearer stale"}); resp.StatusCode != 401 {
		t.Fatalf("stale token: %d, want 401", resp.StatusCode)
	}
	if n := s.PendingFaults(); n != 1 {
		t.Fatalf("a 401 consumed the fault: %d pending, want 1", n)
	}
	if resp, _ := post(t, s, "DocumentReference", doc, map[string]string{"Authorization": "Bearer good"}); resp.StatusCode != 503 {
		t.Errorf("authorized request: %d, want the injected 503", resp.StatusCode)
	}
	if resp, body := post(t, s, "DocumentReference", doc, map[string]string{"Authorization": "Bearer good"}); resp.StatusCode != 201 {
		t.Errorf("after the fault: %d %s", resp.StatusCode, body)
	}
}

func TestReferenceSearch(t *testing.T) {
	s := fhirtest.NewServer(t)
	docs := []string{
		`{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Patient/123"},"context":{"encounter":[{"reference":"Encounter/e1"}]},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`,
		`{"resourceType":"DocumentReference","status":"current","subject":{"reference":"` + s.URL + `/Patient/123"},"context":{"encounter":[{"reference":"Encounter/e2/_history/3"}]},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`,
		`{"resourceType":"DocumentReference","status":"current","subject":{"reference":"Group/123"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`,
		`{"resourceType":"DocumentReference","status":"current","subject":{"type":"Patient","identifier":{"system":"http://ns.electronichealth.net.au/id/hi/ihi/1.0","value":"8003608166690503"}},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`,
		`{"resourceType":"Provenance","target":[{"reference":"DocumentReference/1"},{"reference":"Patient/123"}],"recorded":"2024-05-01T10:00:00Z","agent":[{"who":{"reference":"Practitioner/p1"}}]}`,
	}
	create(t, s, docs...)
	wantMatches(t, s, []match{
		{"DocumentReference?patient=123", 2},
		{"DocumentReference?patient=Patient/123", 2},
		{"DocumentReference?patient=" + s.URL + "/Patient/123", 2},
		{"DocumentReference?patient=https://elsewhere.example/fhir/Patient/123", 0},
		{"DocumentReference?subject=123", 3},
		{"DocumentReference?subject:Group=123", 1},
		{"DocumentReference?subject=Group/123", 1},
		{"DocumentReference?patient=12", 0},
		{"DocumentReference?encounter=e1", 1},
		{"DocumentReference?encounter=Encounter/e2", 1},
		{"DocumentReference?patient=123&encounter=e2", 1},
		{"DocumentReference?encounter=e1,e2", 2},
		{"DocumentReference?encounter=e1&encounter=e2", 0},
		{"DocumentReference?patient:identifier=http://ns.electronichealth.net.au/id/hi/ihi/1.0|8003608166690503", 1},
		{"DocumentReference?subject:identifier=8003608166690503", 1},
		{"DocumentReference?patient:identifier=other|8003608166690503", 0},
		{"Provenance?target=DocumentReference/1", 1},
		{"Provenance?target=1", 1},
		{"Provenance?target=DocumentReference/2", 0},
		{"Provenance?patient=123", 1},
		{"Provenance?agent=Practitioner/p1", 1},
	})
}

func TestTokenSearch(t *testing.T) {
	s := fhirtest.NewServer(t)
	docs := []string{
		`{"resourceType":"DocumentReference","status":"current","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"AIAST"}]},"type":{"coding":[{"system":"http://loinc.org","code":"11488-4"}]},"category":[{"coding":[{"system":"http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category","code":"clinical-note"}]}],"subject":{"reference":"Patient/1"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`,
		`{"resourceType":"DocumentReference","status":"superseded","type":{"coding":[{"system":"http://loinc.org","code":"11506-3"}]},"category":[{"coding":[{"code":"clinical-note"}]}],"subject":{"reference":"Patient/1"},"content":[{"attachment":{"contentType":"text/plain","data":"aGk="}}]}`,
	}
	create(t, s, docs...)
	wantMatches(t, s, []match{
		{"DocumentReference?category=clinical-note", 2},
		{"DocumentReference?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category|clinical-note", 1},
		{"DocumentReference?category=|clinical-note", 1},
		{"DocumentReference?category=other", 0},
		{"DocumentReference?type=http://loinc.org|11488-4", 1},
		{"DocumentReference?type=11488-4,11506-3", 2},
		{"DocumentReference?status=current", 1},
		{"DocumentReference?_security=AIAST", 1},
		{"DocumentReference?patient=1&category=clinical-note&status=superseded", 1},
	})
}

func TestSearchPages(t *testing.T) {
	s := fhirtest.NewServer(t)
	for range 25 {
		if _, err := s.Seed([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	path := "DocumentReference?patient=1"
	pages := 0
	for path != "" {
		resp, body := get(t, s, path)
		b, err := fhirdoc.DecodeBundle(body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		if b.Total == nil || *b.Total != 25 {
			t.Errorf("total %v, want 25", b.Total)
		}
		for _, r := range b.Matches() {
			ids = append(ids, r.ID)
		}
		pages++
		path = strings.TrimPrefix(b.Next(), s.URL+"/")
	}
	if len(ids) != 25 || pages != 3 || ids[0] != "1" || ids[24] != "25" {
		t.Errorf("%d ids over %d pages (%v), want 25 in creation order over 3 pages of %d", len(ids), pages, ids, fhirtest.DefaultPageSize)
	}
	// _count is honoured up to the server's cap.
	_, body := get(t, s, "DocumentReference?_count=5")
	if b, _ := fhirdoc.DecodeBundle(body); len(b.Entry) != 5 || b.Next() == "" {
		t.Errorf("_count=5: %d entries, next %q", len(b.Entry), b.Next())
	}
	s.SetPaging(2, 4)
	_, body = get(t, s, "DocumentReference?_count=100")
	if b, _ := fhirdoc.DecodeBundle(body); len(b.Entry) != 4 {
		t.Errorf("_count=100 with a cap of 4: %d entries", len(b.Entry))
	}
	if resp, _ := get(t, s, "DocumentReference?_count=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("_count=x: %d, want 400", resp.StatusCode)
	}
}
