package standin

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFaultsTakeFirstMatchInOrder(t *testing.T) {
	var q Faults[string]
	q.Inject("search", 1)
	q.Inject("write", 2)
	if f, ok := q.Take(func(f string) bool { return f == "write" }); !ok || f != "write" {
		t.Fatalf("Take(write) = %q, %v", f, ok)
	}
	if n := q.PendingFaults(); n != 2 {
		t.Fatalf("PendingFaults = %d after one of three fired, want 2", n)
	}
	for _, want := range []string{"search", "write"} {
		if f, ok := q.Take(nil); !ok || f != want {
			t.Fatalf("Take(nil) = %q, %v, want %q", f, ok, want)
		}
	}
	if f, ok := q.Take(nil); ok || f != "" {
		t.Fatalf("Take on an empty queue = %q, %v", f, ok)
	}
}

func TestLogAllIsACopy(t *testing.T) {
	var l Log[int]
	l.Add(1)
	l.Add(2)
	all := l.All()
	all[0] = 9
	if got := l.All(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("All = %v after changing an earlier copy, want [1 2]", got)
	}
}

// TestTokensRules checks Tokens' contract one request at a time: a token
// is good while now is before its expiry (for ever if it has none), for as
// many Spends as it was issued (any number if negative), until RevokeAll;
// only "Authorization: Bearer <token>" counts.
func TestTokensRules(t *testing.T) {
	const (
		ok      = ""
		refused = "access token expired or unknown"
		noBear  = "bearer token required"
		bearer  = "Bearer TOKEN"
	)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	until := t0.Add(time.Minute)
	for _, tc := range []struct {
		name    string
		until   time.Time // Issue's
		uses    int       // Issue's
		spent   int       // Spends accepted at t0 before the request
		revoke  bool      // RevokeAll before the request
		auth    string    // the request's Authorization, TOKEN standing for the issued one
		spend   bool      // Spend, not Check
		at      time.Time // the request's now
		wantErr string    // ok, or the refusal
	}{
		{name: "check just before expiry", until: until, uses: -1, auth: bearer, at: until.Add(-time.Nanosecond), wantErr: ok},
		{name: "spend just before expiry", until: until, uses: -1, auth: bearer, spend: true, at: until.Add(-time.Nanosecond), wantErr: ok},
		{name: "check at expiry", until: until, uses: -1, auth: bearer, at: until, wantErr: refused},
		{name: "spend after expiry", until: until, uses: -1, auth: bearer, spend: true, at: until.Add(time.Hour), wantErr: refused},
		{name: "zero expiry never expires", uses: -1, auth: bearer, spend: true, at: t0.AddDate(100, 0, 0), wantErr: ok},
		{name: "negative uses are any number", until: until, uses: -1, spent: 5, auth: bearer, spend: true, at: t0, wantErr: ok},
		{name: "last use", until: until, uses: 2, spent: 1, auth: bearer, spend: true, at: t0, wantErr: ok},
		{name: "check when used up", until: until, uses: 2, spent: 2, auth: bearer, at: t0, wantErr: refused},
		{name: "spend when used up", until: until, uses: 2, spent: 2, auth: bearer, spend: true, at: t0, wantErr: refused},
		{name: "zero uses is used up from the start", until: until, uses: 0, auth: bearer, at: t0, wantErr: refused},
		{name: "revoked", uses: -1, revoke: true, auth: bearer, at: t0, wantErr: refused},
		{name: "unknown token", uses: -1, auth: bearer + "x", at: t0, wantErr: refused},
		{name: "empty bearer token", uses: -1, auth: "Bearer ", spend: true, at: t0, wantErr: refused},
		{name: "bare token", uses: -1, auth: "TOKEN", at: t0, wantErr: noBear},
		{name: "lower-case bearer", uses: -1, auth: "bearer TOKEN", spend: true, at: t0, wantErr: noBear},
		{name: "no Authorization", uses: -1, auth: "", at: t0, wantErr: noBear},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts Tokens
			tok := ts.Issue(tc.until, tc.uses)
			for i := range tc.spent {
				if err := ts.Spend(bearerRequest(tok), t0); err != nil {
					t.Fatalf("Spend %d of %d before the request: %v", i+1, tc.spent, err)
				}
			}
			if tc.revoke {
				ts.RevokeAll()
			}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", strings.ReplaceAll(tc.auth, "TOKEN", tok))
			}
			use, op := ts.Check, "Check"
			if tc.spend {
				use, op = ts.Spend, "Spend"
			}
			var got string
			if err := use(r, tc.at); err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Fatalf("%s = %q, want %q", op, got, tc.wantErr)
			}
		})
	}
}

// TestTokensRefusalKeepsToken checks that Check spends nothing and that a
// refusal neither deletes the token nor spends one of its uses.
func TestTokensRefusalKeepsToken(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	until := t0.Add(time.Minute)
	var ts Tokens
	r := bearerRequest(ts.Issue(until, 1))
	if ts.Check(r, until) == nil || ts.Spend(r, until) == nil {
		t.Fatal("a token was accepted at its expiry")
	}
	for i := range 3 {
		if err := ts.Check(r, t0); err != nil {
			t.Fatalf("Check %d before expiry, after refusals at it: %v", i+1, err)
		}
	}
	if err := ts.Spend(r, t0); err != nil {
		t.Fatalf("Spend of the one use, after Checks and refusals: %v", err)
	}
	if ts.Spend(r, t0) == nil {
		t.Fatal("a second Spend of a one-use token was accepted")
	}
}

func TestTokensIssueDistinctAndCounted(t *testing.T) {
	var ts Tokens
	if ts.Check(bearerRequest("x"), time.Now()) == nil {
		t.Fatal("the zero value accepted a token it never issued")
	}
	a, b := ts.Issue(time.Time{}, -1), ts.Issue(time.Time{}, -1)
	if a == "" || a == b {
		t.Fatalf("Issue returned %q then %q, want two distinct tokens", a, b)
	}
	ts.RevokeAll()
	if n := ts.Issued(); n != 2 {
		t.Fatalf("Issued = %d after two issues and a revoke, want 2", n)
	}
}

func bearerRequest(tok string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}
