package epic_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/epic"
	"github.com/scribegate/scribegate/connectors/epic/epictest"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/connectors/ledger"
)

const (
	clientID = "scribegate-test-client"
	keyID    = "scribegate-test-key-1"
)

// rsaKey is generated once per test binary: a throwaway key, never stored.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

type env struct {
	srv       *epictest.Server
	patient   string
	encounter string
	other     string // another patient's encounter
}

func newEnv(t *testing.T, key crypto.Signer, alg string) *env {
	t.Helper()
	srv := epictest.NewServer(t, epictest.Registration{ClientID: clientID, KeyID: keyID, PublicKey: key.Public(), Algorithm: alg})
	seed := func(js string) string {
		id, err := srv.FHIR.Seed([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	e := &env{srv: srv}
	e.patient = seed(`{"resourceType":"Patient","active":true}`)
	other := seed(`{"resourceType":"Patient","active":true}`)
	e.encounter = seed(`{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/` + e.patient + `"}}`)
	e.other = seed(`{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/` + other + `"}}`)
	return e
}

func (e *env) settings() epic.Settings {
	return epic.Settings{
		BaseURL: e.srv.BaseURL, TokenURL: e.srv.TokenURL, ClientID: clientID, KeyID: keyID,
		Timeout: 5 * time.Second, IdentifierSystem: "urn:scribegate:test:note",
	}
}

func (e *env) connector(t *testing.T, key crypto.Signer, mod func(*epic.Settings, *epic.Options)) *epic.Connector {
	t.Helper()
	s := e.settings()
	o := epic.Options{Key: key, Ledger: ledger.NewMemory(), Name: "epic-test"}
	if mod != nil {
		mod(&s, &o)
	}
	c, err := epic.New(s, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) doc() *connectors.Document {
	return &connectors.Document{
		NoteID: "note-42", Version: 1, Clinic: "clinic-a",
		Patient: e.patient, Encounter: e.encounter,
		Author: "prac-1", AuthorName: "Dr Test Author",
		Approver: "prac-1", ApproverName: "Dr Test Author",
		ApprovedAt: time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC),
		Template:   "consult", LOINC: "11488-4", LOINCDisplay: "Consult note", Title: "Consult note",
		Text:    "Synthetic consultation.\n\nPlan: review in two weeks.",
		Created: time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC),
		Drafter: "rules",
	}
}

func pushErr(t *testing.T, err error) *connectors.PushError {
	t.Helper()
	var pe *connectors.PushError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *connectors.PushError", err, err)
	}
	return pe
}

func TestAssertionClaims(t *testing.T) {
	now := time.Now()
	b := &epic.BackendServices{ClientID: clientID, TokenURL: "https://ehr.example/oauth2/token", KeyID: keyID, Key: rsaKey()}
	seen := map[string]bool{}
	for range 3 {
		s, err := b.Assertion()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Parse(s, func(*jwt.Token) (any, error) { return rsaKey().Public(), nil }, jwt.WithValidMethods([]string{"RS384"}))
		if err != nil {
			t.Fatal(err)
		}
		if tok.Header["kid"] != keyID || tok.Header["typ"] != "JWT" {
			t.Errorf("header = %v, want kid %s and typ JWT", tok.Header, keyID)
		}
		c := tok.Claims.(jwt.MapClaims)
		if c["iss"] != clientID || c["sub"] != clientID {
			t.Errorf("iss/sub = %v/%v, want both %s", c["iss"], c["sub"], clientID)
		}
		if c["aud"] != b.TokenURL {
			t.Errorf("aud = %v, want the token URL", c["aud"])
		}
		exp, _ := c.GetExpirationTime()
		iat, _ := c.GetIssuedAt()
		nbf, _ := c.GetNotBefore()
		if exp == nil || iat == nil || nbf == nil {
			t.Fatalf("exp/iat/nbf missing: %v", c)
		}
		if d := exp.Sub(now); d <= 0 || d > epic.MaxAssertionLifetime {
			t.Errorf("exp is %v ahead, want within (0, 5m]", d)
		}
		jti, _ := c["jti"].(string)
		if jti == "" || seen[jti] {
			t.Errorf("jti %q empty or reused", jti)
		}
		seen[jti] = true
	}
}

// TestAuthorizerRefuses checks the stand-in holds assertions to Epic's
// rules, so the connector's tests passing means something.
func TestAuthorizerRefuses(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	sign := func(method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, claims)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": clientID, "sub": clientID, "aud": e.srv.TokenURL, "jti": rand.Text(), "exp": now.Add(4 * time.Minute).Unix()}
	}
	hdr := map[string]any{"kid": keyID, "typ": "JWT"}
	reused := good()
	cases := []struct {
		name      string
		assertion string
		wantOK    bool
	}{
		{"valid", sign(jwt.SigningMethodRS384, rsaKey(), hdr, good()), true},
		{"reused jti first use", sign(jwt.SigningMethodRS384, rsaKey(), hdr, reused), true},
		{"reused jti", sign(jwt.SigningMethodRS384, rsaKey(), hdr, reused), false},
		{"other key", sign(jwt.SigningMethodRS384, other, hdr, good()), false},
		{"wrong kid", sign(jwt.SigningMethodRS384, rsaKey(), map[string]any{"kid": "nope", "typ": "JWT"}, good()), false},
		{"RS256", sign(jwt.SigningMethodRS256, rsaKey(), hdr, good()), false},
		{"wrong aud", sign(jwt.SigningMethodRS384, rsaKey(), hdr, func() jwt.MapClaims { c := good(); c["aud"] = e.srv.BaseURL; return c }()), false},
		{"sub differs", sign(jwt.SigningMethodRS384, rsaKey(), hdr, func() jwt.MapClaims { c := good(); c["sub"] = "someone"; return c }()), false},
		{"exp too far", sign(jwt.SigningMethodRS384, rsaKey(), hdr, func() jwt.MapClaims { c := good(); c["exp"] = now.Add(10 * time.Minute).Unix(); return c }()), false},
		{"expired", sign(jwt.SigningMethodRS384, rsaKey(), hdr, func() jwt.MapClaims { c := good(); c["exp"] = now.Add(-time.Minute).Unix(); return c }()), false},
		{"no jti", sign(jwt.SigningMethodRS384, rsaKey(), hdr, func() jwt.MapClaims { c := good(); delete(c, "jti"); return c }()), false},
	}
	for _, tc := range cases {
		form := "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" + tc.assertion
		resp, err := http.Post(e.srv.TokenURL, "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if ok := resp.StatusCode == http.StatusOK; ok != tc.wantOK {
			t.Errorf("%s: status %d %v, want ok=%v", tc.name, resp.StatusCode, body, tc.wantOK)
		}
		if !tc.wantOK && body["error"] != "invalid_client" {
			t.Errorf("%s: error %v, want invalid_client", tc.name, body["error"])
		}
	}
}

func TestPushFilesOnceAndLedgerAnswersRepeat(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	c := e.connector(t, rsaKey(), nil)
	ctx := context.Background()
	r, err := c.Push(ctx, e.doc())
	if err != nil {
		t.Fatal(err)
	}
	if r.ExternalID == "" || r.Duplicate {
		t.Fatalf("receipt %+v, want a new document id", r)
	}
	r2, err := c.Push(ctx, e.doc())
	if err != nil {
		t.Fatal(err)
	}
	if r2.ExternalID != r.ExternalID || !r2.Duplicate {
		t.Fatalf("repeat receipt %+v, want duplicate of %s", r2, r.ExternalID)
	}
	docs := e.srv.FHIR.Resources("DocumentReference")
	if len(docs) != 1 {
		t.Fatalf("%d documents filed, want 1", len(docs))
	}
	var got struct {
		ID        string `json:"id"`
		DocStatus string `json:"docStatus"`
		Content   []any  `json:"content"`
	}
	_ = json.Unmarshal(docs[0], &got)
	if got.ID != r.ExternalID || got.DocStatus != "final" || len(got.Content) != 1 {
		t.Errorf("filed %+v, want id %s, final, one attachment", got, r.ExternalID)
	}
	if n := e.srv.Auth.Issued(); n != 1 {
		t.Errorf("%d tokens issued, want 1 (cached)", n)
	}
}

// TestLostResponseSearchesBeforeRetry: Epic filed the note but the reply
// was lost; the retry must find it, not file a second note.
func TestLostResponseSearchesBeforeRetry(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	ledgerPath := filepath.Join(t.TempDir(), "ledger.json")
	open := func() *epic.Connector {
		return e.connector(t, rsaKey(), func(s *epic.Settings, o *epic.Options) { o.Ledger = nil; s.LedgerFile = ledgerPath })
	}
	ctx := context.Background()
	e.srv.FHIR.Inject(fhirtest.Fault{Method: http.MethodPost, ResourceType: "DocumentReference", Drop: true}, 1)
	_, err := open().Push(ctx, e.doc())
	if err == nil || pushErr(t, err).Permanent {
		t.Fatalf("lost response: err %v, want a transient failure", err)
	}
	if n := len(e.srv.FHIR.Resources("DocumentReference")); n != 1 {
		t.Fatalf("%d documents after the lost response, want 1 (it was filed)", n)
	}
	// A new process with the same durable ledger.
	r, err := open().Push(ctx, e.doc())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Duplicate || r.ExternalID == "" {
		t.Fatalf("retry receipt %+v, want the earlier document as a duplicate", r)
	}
	if n := len(e.srv.FHIR.Resources("DocumentReference")); n != 1 {
		t.Fatalf("%d documents after retry, want 1", n)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	c := e.connector(t, rsaKey(), func(s *epic.Settings, _ *epic.Options) { s.NoteTypes = []string{"11506-3"} })
	ctx := context.Background()
	cases := map[string]func(d *connectors.Document){
		"note type not allowed": func(d *connectors.Document) { d.LOINC = "11488-4" },
		"no encounter":          func(d *connectors.Document) { d.LOINC = "11506-3"; d.Encounter = "" },
		"no text":               func(d *connectors.Document) { d.LOINC = "11506-3"; d.Text = "  " },
	}
	for name, mod := range cases {
		d := e.doc()
		mod(d)
		_, err := c.Push(ctx, d)
		if err == nil || !connectors.IsPermanent(err) {
			t.Errorf("%s: err %v, want permanent", name, err)
		}
	}
	if n := e.srv.Auth.Issued(); n != 0 {
		t.Errorf("%d tokens fetched for refused notes, want none (nothing sent)", n)
	}
}

func TestEpicRefusalIsPermanentWithItsWords(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	c := e.connector(t, rsaKey(), nil)
	d := e.doc()
	d.Encounter = e.other // another patient's encounter
	_, err := c.Push(context.Background(), d)
	pe := pushErr(t, err)
	if !pe.Permanent || pe.StatusCode != http.StatusBadRequest || !strings.Contains(pe.Message, "is not an encounter of") {
		t.Fatalf("got %+v, want permanent 400 with Epic's explanation", pe)
	}
}

func TestTransientFailures(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		e := newEnv(t, rsaKey(), "RS384")
		c := e.connector(t, rsaKey(), nil)
		e.srv.FHIR.Inject(fhirtest.Fault{Method: http.MethodPost, ResourceType: "DocumentReference", Status: status, RetryAfter: 7 * time.Second}, 1)
		_, err := c.Push(context.Background(), e.doc())
		pe := pushErr(t, err)
		if pe.Permanent || pe.StatusCode != status || pe.RetryAfter != 7*time.Second {
			t.Errorf("HTTP %d: got %+v, want transient with Retry-After 7s", status, pe)
		}
		// The retry searches first (an attempt is on record) and then files.
		r, err := c.Push(context.Background(), e.doc())
		if err != nil || r.Duplicate {
			t.Fatalf("HTTP %d retry: %+v, %v", status, r, err)
		}
		if n := len(e.srv.FHIR.Resources("DocumentReference")); n != 1 {
			t.Errorf("HTTP %d: %d documents, want 1", status, n)
		}
	}
}

func TestRevokedTokenRefreshesOnce(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	c := e.connector(t, rsaKey(), nil)
	ctx := context.Background()
	if _, err := c.Push(ctx, e.doc()); err != nil {
		t.Fatal(err)
	}
	e.srv.Auth.RevokeAll()
	d := e.doc()
	d.Version = 2
	if _, err := c.Push(ctx, d); err != nil {
		t.Fatalf("push after revocation: %v", err)
	}
	if n := e.srv.Auth.Issued(); n != 2 {
		t.Errorf("%d tokens issued, want 2 (one refresh after the 401)", n)
	}
}

func TestWrongKeyIsTransientAuthFailure(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	c := e.connector(t, other, nil)
	_, err := c.Push(context.Background(), e.doc())
	pe := pushErr(t, err)
	if pe.Permanent || !strings.Contains(pe.Message, "invalid_client") {
		t.Fatalf("got %+v, want a transient credentials failure naming invalid_client", pe)
	}
	if n := len(e.srv.FHIR.Resources("DocumentReference")); n != 0 {
		t.Errorf("%d documents filed without a token", n)
	}
}

func TestES384(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, k, "ES384")
	c := e.connector(t, k, func(s *epic.Settings, _ *epic.Options) { s.Algorithm = "ES384" })
	if _, err := c.Push(context.Background(), e.doc()); err != nil {
		t.Fatal(err)
	}
}

func TestPreliminaryDocStatus(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	c := e.connector(t, rsaKey(), func(s *epic.Settings, _ *epic.Options) { s.DocStatus = "preliminary" })
	if _, err := c.Push(context.Background(), e.doc()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(e.srv.FHIR.Resources("DocumentReference")[0], []byte(`"docStatus":"preliminary"`)) {
		t.Error("document not filed as preliminary")
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	c := e.connector(t, rsaKey(), nil)
	for _, r := range c.Check(context.Background()) {
		if !r.OK {
			t.Errorf("check %s failed: %s", r.Name, r.Detail)
		}
	}
	if n := len(e.srv.FHIR.Resources("DocumentReference")); n != 0 {
		t.Errorf("Check filed %d documents", n)
	}
}

// TestOpenFromConfig opens the connector through the registry with a PEM
// key file, as the gateway does, and checks settings are validated.
func TestOpenFromConfig(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	der, err := x509.MarshalPKCS8PrivateKey(rsaKey())
	if err != nil {
		t.Fatal(err)
	}
	s := e.settings()
	s.PrivateKeyFile = connectortest.SecretFile(t, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	decode := func(v any) error { *(v.(*epic.Settings)) = s; return nil }
	state := filepath.Join(t.TempDir(), "state")
	conn, err := connectors.Open(context.Background(), "epic", connectors.Config{Name: "epic-test", Decode: decode, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Push(context.Background(), e.doc()); err != nil {
		t.Fatal(err)
	}
	// Given a state directory, the ledger that stands in for Epic's missing
	// conditional create is durable without any setting.
	if fi, err := os.Stat(filepath.Join(state, "ledger.json")); err != nil || fi.Size() == 0 {
		t.Errorf("no durable ledger in the state directory: %v", err)
	}

	bad := []func(*epic.Settings){
		func(s *epic.Settings) { s.BaseURL = "" },
		func(s *epic.Settings) { s.TokenURL = "not a url" },
		func(s *epic.Settings) { s.DocStatus = "signed" },
		func(s *epic.Settings) { s.Algorithm = "HS256" },
		func(s *epic.Settings) { s.Timeout = 30 }, // 30ns: YAML "timeout: 30", the unit forgotten
		func(s *epic.Settings) { s.PrivateKeyFile = filepath.Join(t.TempDir(), "missing.pem") },
		func(s *epic.Settings) { s.Algorithm = "ES384" }, // RSA key
	}
	for i, mod := range bad {
		bs := s
		mod(&bs)
		if _, err := epic.New(bs, epic.Options{}); err == nil {
			t.Errorf("bad settings %d accepted", i)
		}
	}
}

func TestGoldenDocumentReference(t *testing.T) {
	e := newEnv(t, rsaKey(), "RS384")
	c := e.connector(t, rsaKey(), nil)
	d := e.doc()
	d.Patient, d.Encounter = "eXaMpLePaTiEnT", "eXaMpLeEnCoUnTeR"
	got, err := c.Build(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := fhirtest.Schema(t).Validate(got); err != nil {
		t.Fatalf("built DocumentReference is not valid R4: %v", err)
	}
	// Epic takes no Provenance: the AI is declared in the note's only kept
	// attachment, after the approved text, and by the security label.
	var sent struct {
		Meta struct {
			Security []struct{ Code string } `json:"security"`
		} `json:"meta"`
		Content []struct {
			Attachment struct{ Data string } `json:"attachment"`
		} `json:"content"`
	}
	if err := json.Unmarshal(got, &sent); err != nil || len(sent.Content) != 1 {
		t.Fatalf("built DocumentReference: %v, %d attachments", err, len(sent.Content))
	}
	text, _ := base64.StdEncoding.DecodeString(sent.Content[0].Attachment.Data)
	if note, decl, ok := fhirdoc.SplitDeclaration(string(text)); !ok || note != d.Text || !strings.Contains(decl, "approved by "+d.ApproverName) {
		t.Errorf("attachment text %q: want the approved text and an AI declaration naming the approver", text)
	}
	if len(sent.Meta.Security) != 1 || sent.Meta.Security[0].Code != fhirdoc.AIAssertedCode {
		t.Errorf("security labels %+v, want AIAST", sent.Meta.Security)
	}
	connectortest.Golden(t, "documentreference.json", got)
}
