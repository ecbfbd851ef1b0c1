package sso

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
)

// sessionCookie is the rig's browser's session cookie.
func (g *rig) sessionCookie(t *testing.T) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(g.url)
	for _, c := range g.client.Jar.Cookies(u) {
		if c.Name == g.svc.cookie {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func (g *rig) signIn(t *testing.T) {
	t.Helper()
	st, code, _ := g.finish(t, g.client, g.toCallback(t, g.client, "moore", "correct horse"))
	if st != http.StatusOK || code != "" {
		t.Fatalf("sign-in: %d %q", st, code)
	}
}

func (g *rig) wantMe(t *testing.T, status int, code string) {
	t.Helper()
	st, a, c := g.me(t, g.client)
	if st != status || c != code || (status == http.StatusOK && a.Subject != "prac-1") {
		t.Fatalf("GET /v1/me: %d %q as %q; want %d %q", st, c, a.Subject, status, code)
	}
}

func (g *rig) signOut(t *testing.T) {
	t.Helper()
	if st := g.logout(t, sessionOf(t, g.client, g.url).CSRF, g.url).StatusCode; st != http.StatusOK {
		t.Fatalf("sign-out: %d", st)
	}
}

// TestSessionsOutliveARestart: a session lives in the SQLite review store,
// so a gateway restarted on the same file keeps the clinician signed in;
// its sign-out and its expiry are honoured after the restart too; the
// file holds neither the cookie nor the clinician in the clear.
func TestSessionsOutliveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.db")
	open := func() *sqlitestore.Store { return sqlitetest.OpenAt(t, path) }
	first := open()
	g := newCluster(t, []Store{first}, moore)
	g.signIn(t)
	g.wantMe(t, http.StatusOK, "")
	cookie := g.sessionCookie(t).Value

	// The store holds the session under the cookie's hash only.
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, clear int
	if err := db.QueryRow(`SELECT count(*), coalesce(sum(instr(key, ?) > 0 OR instr(body, ?) > 0), 0) FROM signins WHERE key LIKE 'session:%'`,
		cookie, cookie).Scan(&n, &clear); err != nil {
		t.Fatal(err)
	}
	if n != 1 || clear != 0 {
		t.Errorf("the store holds %d sessions, %d naming the cookie; want 1 and 0", n, clear)
	}

	// restart stops the gateway and its store and starts both again.
	last := first
	restart := func() {
		last.Close()
		last = open()
		g.restart(t, 0, last)
		g.route(0)
	}
	restart()
	g.wantMe(t, http.StatusOK, "")

	g.signOut(t)
	restart()
	g.wantMe(t, http.StatusUnauthorized, "unauthorized")

	// A session that ran out is answered as expired after a restart.
	g.signIn(t)
	g.clock.add(8*time.Hour + time.Second)
	defer g.clock.add(-8*time.Hour - time.Second)
	restart()
	g.wantMe(t, http.StatusUnauthorized, "token_expired")
}

// TestSessionsSharedAcrossGateways: two gateways on one Redis behind one
// address share sign-in: a sign-in begun at one finishes at the other,
// either honours the session, a restart of either keeps it, a sign-out at
// one ends it at both, and an expired session is refused by both.
func TestSessionsSharedAcrossGateways(t *testing.T) {
	u := redistest.URL(t)
	g := newCluster(t, []Store{redistest.Open(t, u), redistest.Open(t, u)}, moore)

	// Sign-in starts at gateway 0 and the provider's answer reaches 1.
	cb := g.toCallback(t, g.client, "moore", "correct horse")
	g.route(1)
	if st, code, _ := g.finish(t, g.client, cb); st != http.StatusOK || code != "" {
		t.Fatalf("a sign-in started at one gateway and finished at the other: %d %q", st, code)
	}
	g.wantMe(t, http.StatusOK, "")
	g.route(0)
	g.wantMe(t, http.StatusOK, "")

	// Gateway 0 restarts: its new process honours the cookie.
	g.restart(t, 0, redistest.Open(t, u))
	g.route(0)
	g.wantMe(t, http.StatusOK, "")

	// Signed out at 1, the session is over at 0.
	g.route(1)
	g.signOut(t)
	g.route(0)
	g.wantMe(t, http.StatusUnauthorized, "unauthorized")

	// A session that ran out is expired at both.
	g.signIn(t)
	g.route(1)
	g.wantMe(t, http.StatusOK, "")
	g.clock.add(8*time.Hour + time.Second)
	defer g.clock.add(-8*time.Hour - time.Second)
	for i := range 2 {
		g.route(i)
		g.wantMe(t, http.StatusUnauthorized, "token_expired")
	}
}

// TestStoresTakeOnce: a sign-in under way is taken once, whichever store
// holds it, and a value past its expiry is gone.
func TestStoresTakeOnce(t *testing.T) {
	for name, st := range map[string]Store{"sqlite": sqlitetest.Open(t), "redis": redistest.Open(t, redistest.URL(t))} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			key := "login:" + digest(randomToken())
			if err := st.PutSignIn(ctx, key, []byte(`{"v":1}`), time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if b, err := st.SignIn(ctx, key); err != nil || string(b) != `{"v":1}` {
				t.Fatalf("SignIn: %q %v", b, err)
			}
			if b, err := st.TakeSignIn(ctx, key); err != nil || string(b) != `{"v":1}` {
				t.Fatalf("first TakeSignIn: %q %v", b, err)
			}
			if _, err := st.TakeSignIn(ctx, key); err != review.ErrNotFound {
				t.Errorf("second TakeSignIn: %v, want review.ErrNotFound", err)
			}
			if _, err := st.SignIn(ctx, key); err != review.ErrNotFound {
				t.Errorf("SignIn after the take: %v, want review.ErrNotFound", err)
			}
			gone := "login:" + digest(randomToken())
			if err := st.PutSignIn(ctx, gone, []byte(`{}`), time.Now().Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.SignIn(ctx, gone); err != review.ErrNotFound {
				t.Errorf("SignIn of an expired value: %v, want review.ErrNotFound", err)
			}
		})
	}
}

// TestStoreDownIsNotSignedOut: while the store fails (SQLite closed, the
// Redis server gone), a request with a session cookie is refused 503
// store_unavailable, and so is GET /auth/session (with Retry-After, as the
// API's store_unavailable): neither answers as if the clinician had signed
// out, which would send the page to sign-in.
func TestStoreDownIsNotSignedOut(t *testing.T) {
	sqlite := sqlitetest.Open(t)
	srv := redistest.ServerFor(t)
	for _, tc := range []struct {
		name string
		st   Store
		fail func()
	}{
		{"sqlite", sqlite, func() { sqlite.Close() }},
		{"redis", redistest.Open(t, srv.URL()), srv.Kill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newCluster(t, []Store{tc.st}, moore)
			g.signIn(t)
			g.wantMe(t, http.StatusOK, "")
			tc.fail() // the store fails from now on
			g.wantMe(t, http.StatusServiceUnavailable, "store_unavailable")
			res, err := g.client.Get(g.url + "/auth/session")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			wantStoreUnavailable(t, "GET /auth/session with the store down", res)
		})
	}
}

// wantStoreUnavailable checks that res refuses the request 503
// store_unavailable, with Retry-After, as the API's store_unavailable.
func wantStoreUnavailable(t *testing.T, what string, res *http.Response) {
	t.Helper()
	if code, after := res.Header.Get("Scribegate-Error-Code"), res.Header.Get("Retry-After"); res.StatusCode != http.StatusServiceUnavailable || code != "store_unavailable" || after != "1" {
		t.Errorf("%s: %d %q (Retry-After %q), want 503 store_unavailable, Retry-After 1", what, res.StatusCode, code, after)
	}
}

// TestSignOutWaitsForReplica: on Redis with a replica to confirm writes, a
// sign-out the replica does not confirm (a failover then could bring the
// session back) is refused 503 store_unavailable, and the browser's
// cookie is cleared all the same; once the replica answers, the session
// is over for anyone holding the cookie.
func TestSignOutWaitsForReplica(t *testing.T) {
	primary, replica := redistest.Replicated(t)
	g := newCluster(t, []Store{redistest.OpenOptions(t, redisstore.Options{URL: primary.URL(), Replicas: 1, ReplicaTimeout: time.Second})}, moore)
	g.signIn(t)
	cookie := g.sessionCookie(t)
	csrf := sessionOf(t, g.client, g.url).CSRF
	replica.Stall()
	defer replica.Resume()
	wantStoreUnavailable(t, "sign-out with the replica stalled", g.logout(t, csrf, g.url))
	u, _ := url.Parse(g.url)
	for _, c := range g.client.Jar.Cookies(u) {
		if c.Name == cookie.Name {
			t.Errorf("the browser keeps its session cookie after an unconfirmed sign-out")
		}
	}
	replica.Resume()
	req, _ := http.NewRequest("GET", g.url+"/v1/me", nil)
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if code := res.Header.Get("Scribegate-Error-Code"); res.StatusCode != http.StatusUnauthorized || code != "unauthorized" {
		t.Errorf("the signed-out cookie once the replica answers: %d %q, want 401 unauthorized", res.StatusCode, code)
	}
}
