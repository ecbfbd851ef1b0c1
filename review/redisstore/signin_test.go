package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/sealed"
	"github.com/scribegate/scribegate/review/sealed/sealedtest"
)

// session is a sign-in session as gateway/sso stores it: it names the
// clinician and holds an EHR's token.
const session = `{"actor":{"sub":"prac-1","name":"Dr Alice Moore"},"ehr_token":"ehr-secret-7f3a"}`

// signInKey is where a store with the default prefix keeps key.
func signInKey(key string) string { return redisstore.DefaultPrefix + "signin:" + key }

// TestSignInSealed: with keys, a sign-in is sealed in Redis (none of its
// claims or tokens in the clear) and reads back whole; it opens under its
// own key only, and not in a store without the ring. Without keys it is
// stored as given, as the SQLite store does.
func TestSignInSealed(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	keys := sealedtest.Ring(t, sealedtest.Key("k1"))
	s := redistest.OpenOptions(t, redisstore.Options{URL: serverURL, Keys: keys})
	key := "session:" + review.NewID()
	if err := s.PutSignIn(ctx, key, []byte(session), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	raw, err := c.Get(ctx, signInKey(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"prac-1", "Alice Moore", "ehr-secret-7f3a"} {
		if strings.Contains(raw, clear) {
			t.Errorf("Redis holds %q in the clear: %q", clear, raw)
		}
	}
	if !sealed.IsSealed(raw) {
		t.Errorf("Redis holds %q, not a sealed value", raw)
	}
	if ttl := c.TTL(ctx, signInKey(key)).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL %v, want up to a minute", ttl)
	}
	if b, err := s.SignIn(ctx, key); err != nil || string(b) != session {
		t.Fatalf("SignIn: %q %v", b, err)
	}

	// Copied under another key, the value does not open.
	moved := "session:" + review.NewID()
	c.Set(ctx, signInKey(moved), raw, time.Minute)
	if b, err := s.SignIn(ctx, moved); !errors.Is(err, sealed.ErrAuth) {
		t.Errorf("SignIn of a value moved to another key: %q %v, want sealed.ErrAuth", b, err)
	}
	// A store without the ring cannot read it, and says so (no sign-out).
	plain := redistest.Open(t, serverURL)
	if b, err := plain.SignIn(ctx, key); !errors.Is(err, sealed.ErrUnknownKey) {
		t.Errorf("SignIn without keys: %q %v, want sealed.ErrUnknownKey", b, err)
	}
	if b, err := s.TakeSignIn(ctx, key); err != nil || string(b) != session {
		t.Fatalf("TakeSignIn: %q %v", b, err)
	}

	// Without keys the value is stored as given.
	if err := plain.PutSignIn(ctx, key, []byte(session), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if raw := c.Get(ctx, signInKey(key)).Val(); raw != session {
		t.Errorf("without keys Redis holds %q, want the value as given", raw)
	}
}

// TestSignInStoredInTheClearBefore: a session an earlier version stored
// unsealed stays signed in after the upgrade to keys (it is read as it
// is, until it expires), and is used once like any other.
func TestSignInStoredInTheClearBefore(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	s := redistest.OpenOptions(t, redisstore.Options{URL: serverURL, Keys: sealedtest.Ring(t, sealedtest.Key("k1"))})
	key := "session:" + review.NewID()
	c.Set(ctx, signInKey(key), session, time.Minute)
	if b, err := s.SignIn(ctx, key); err != nil || string(b) != session {
		t.Fatalf("SignIn of a value stored in the clear: %q %v", b, err)
	}
	if b, err := s.TakeSignIn(ctx, key); err != nil || string(b) != session {
		t.Fatalf("TakeSignIn of a value stored in the clear: %q %v", b, err)
	}
	if _, err := s.SignIn(ctx, key); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("SignIn after the take: %v, want review.ErrNotFound", err)
	}
}

// TestSignInWaitsForReplica: with a replica required, a sign-in is
// acknowledged once the replica holds it, and fails with ErrUnavailable
// (the gateway's 503 store_unavailable) while the replica does not
// confirm it; so does its take (a sign-out), which the replica holds
// once it answers again.
func TestSignInWaitsForReplica(t *testing.T) {
	primary, replica := redistest.Replicated(t)
	ctx := context.Background()
	s := redistest.OpenOptions(t, redisstore.Options{URL: primary.URL(), Replicas: 1, ReplicaTimeout: 200 * time.Millisecond,
		Keys: sealedtest.Ring(t, sealedtest.Key("k1"))})
	key := "session:" + review.NewID()
	var err error
	for range 25 { // the replica may be slow to confirm on a busy machine
		if err = s.PutSignIn(ctx, key, []byte(session), time.Now().Add(time.Minute)); !errors.Is(err, review.ErrUnavailable) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// Acknowledged, so the replica holds it (sealed as on the primary).
	if raw := redistest.Client(t, replica.URL()).Get(ctx, signInKey(key)).Val(); !sealed.IsSealed(raw) {
		t.Errorf("the replica holds %q, want the sealed sign-in", raw)
	}
	replica.Stall()
	defer replica.Resume()
	if err := s.PutSignIn(ctx, "session:"+review.NewID(), []byte(session), time.Now().Add(time.Minute)); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("sign-in with the replica stalled: %v, want ErrUnavailable", err)
	}
	if b, err := s.TakeSignIn(ctx, key); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("sign-out with the replica stalled: %q %v, want ErrUnavailable", b, err)
	}
	replica.Resume()
	if b, err := s.TakeSignIn(ctx, key); !errors.Is(err, review.ErrNotFound) {
		t.Errorf("sign-out again once the replica answers: %q %v, want review.ErrNotFound (taken on the primary)", b, err)
	}
	rc := redistest.Client(t, replica.URL())
	for deadline := time.Now().Add(5 * time.Second); rc.Exists(ctx, signInKey(key)).Val() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replica still holds the taken sign-in 5 s after it answers again")
		}
	}
}
