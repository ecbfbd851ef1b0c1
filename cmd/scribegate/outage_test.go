package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
)

// TestStoreOutage runs a gateway on a Redis primary whose writes must be
// confirmed by its one replica (store.redis_replicas: 1), and takes the
// replica away: the gateway is not ready, an approval answers 503
// store_unavailable with Retry-After (not 500), reading a note still
// works (its audit entry cannot be stored, and is logged), and a new
// stream is closed with 1012 to come back later rather than failed.
// Once the replica is back, the approval repeated goes through.
func TestStoreOutage(t *testing.T) {
	primary, replica := redistest.Replicated(t)
	redisURL := primary.URL()
	g := startGateway(t, `
data_dir: {{DATA}}
transcription: {engine: synthetic}
store: {driver: redis, redis_url: "`+redisURL+`", redis_replicas: 1, redis_replica_timeout: 1s}
`)
	// A note waiting for review, stored as a session would have.
	ctx := context.Background()
	st := redistest.Open(t, redisURL)
	now := time.Now().UTC()
	n := &review.Note{ID: review.NewID(), Clinic: "c1", Clinician: "dr-a", Patient: "p1", Connector: "file", Template: "soap",
		State: review.StatePendingReview, Version: 1, CreatedAt: now, UpdatedAt: now,
		Draft: note.Draft{Template: "soap", Sections: []note.Section{}}}
	if err := st.CreateNote(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	tok := g.token(t, "rev", "c1", review.RoleReviewer)
	ready := func() int {
		resp, err := http.Get(g.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Ready is a write the replica confirmed within
	// redis_replica_timeout: on a loaded machine one may take longer
	// (and is rightly 503), so the test waits for the gateway to become
	// ready with the replica rather than reading /readyz once.
	waitUntil(t, "the gateway to be ready with the replica", func() bool { return ready() == http.StatusOK })

	// The primary refuses writes (NOREPLICAS) once its replica is gone,
	// as the deployment had it; reads still work.
	pc := redistest.Client(t, redisURL)
	if err := pc.ConfigSet(ctx, "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := pc.ConfigSet(ctx, "min-replicas-max-lag", "1").Err(); err != nil {
		t.Fatal(err)
	}
	replica.Kill()
	if code := ready(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while writes cannot be confirmed: %d, want 503", code)
	}
	waitUntil(t, "the primary to refuse writes", func() bool {
		return redis.HasErrorPrefix(pc.Set(ctx, "probe", 1, 0).Err(), "NOREPLICAS")
	})
	var view noteView
	if code := g.call(t, "GET", "/v1/notes/"+n.ID, tok, nil, &view); code != http.StatusOK || view.State != "pending_review" {
		t.Errorf("read during the outage: %d %s, want 200 pending_review", code, view.State)
	}
	req, _ := http.NewRequest("POST", g.URL+"/v1/notes/"+n.ID+"/approve", strings.NewReader(`{"version":1}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e apiError
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || e.Error.Code != "store_unavailable" {
		t.Errorf("approval during the outage: %d %q, Retry-After %q; want 503 store_unavailable with Retry-After",
			resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After"))
	}

	// A new stream: its note cannot be stored; the client is told to come
	// back (1012), not that the session failed.
	h := http.Header{"Authorization": {"Bearer " + g.token(t, "dr-a", "c1", review.RoleClinician)}}
	conn, _, err := websocket.DefaultDialer.Dial(g.wsURL()+"/v1/listen?encoding=linear16&sample_rate=16000&patient=p1", h)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var code string
	for {
		var m struct {
			Type string `json:"type"`
			Code string `json:"code"`
		}
		err := conn.ReadJSON(&m)
		if ce, ok := err.(*websocket.CloseError); ok {
			if ce.Code != websocket.CloseServiceRestart || code != "store_unavailable" {
				t.Errorf("stream during the outage: Error %q, close %d; want store_unavailable, 1012", code, ce.Code)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if m.Type == "Error" {
			code = m.Code
		}
	}

	if err := replica.Restart(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the gateway to be ready again", func() bool { return ready() == http.StatusOK })
	// The approval repeated, as the 503 asks, is answered 200 whether or
	// not the refused one had been applied on the primary.
	var approved noteView
	if code := g.call(t, "POST", "/v1/notes/"+n.ID+"/approve", tok, map[string]int{"version": 1}, &approved); code != http.StatusOK || approved.State == "pending_review" || approved.State == "" {
		t.Errorf("approval repeated after the outage: %d, note %s", code, approved.State)
	}
}

// waitUntil polls cond until it holds, failing t after 30s: a deadline
// rather than a count of tries, since a try (a /readyz whose probe waits
// for the replica) can itself take a second.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
