package tokencache

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// counter fetches tokens "t1", "t2", … that expire life after now.
type counter struct {
	n    int
	now  time.Time
	life time.Duration
	err  error
}

func (f *counter) fetch(context.Context) (*oauth2.Token, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.n++
	tok := &oauth2.Token{AccessToken: "t" + strconv.Itoa(f.n)}
	if f.life > 0 {
		tok.Expiry = f.now.Add(f.life)
	}
	return tok, nil
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	f := &counter{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), life: time.Hour}
	c := New(f.fetch, time.Minute, func() time.Time { return f.now })
	want := func(step, access string) {
		t.Helper()
		tok, err := c.Token(ctx)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if tok.AccessToken != access {
			t.Fatalf("%s: token %q, want %q", step, tok.AccessToken, access)
		}
	}
	want("first call fetches", "t1")
	want("a live token is reused", "t1")
	f.now = f.now.Add(58 * time.Minute)
	want("still more than a minute before expiry", "t1")
	f.now = f.now.Add(90 * time.Second)
	want("within a minute of expiry it renews", "t2")
	c.Invalidate("t1")
	want("invalidating an older token keeps the current one", "t2")
	c.Invalidate("t2")
	want("invalidating the current token fetches again", "t3")

	f.life = 0
	c.Invalidate("t3")
	want("a token without expiry is fetched", "t4")
	f.now = f.now.Add(1000 * time.Hour)
	want("a token without expiry is reused", "t4")

	boom := errors.New("token endpoint down")
	f.err = boom
	c.Invalidate("t4")
	if _, err := c.Token(ctx); !errors.Is(err, boom) {
		t.Fatalf("fetch failure: err %v, want %v", err, boom)
	}
}
