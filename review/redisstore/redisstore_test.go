package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/storetest"
)

// serverURL is the Redis every test in the package uses: REDIS_URL when
// set, otherwise a redis-server this package starts on a free loopback
// port with no persistence.
var serverURL string

// ownServer says the server is this package's own, so a test may change
// its configuration.
var ownServer bool

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	serverURL = os.Getenv("REDIS_URL")
	if serverURL == "" {
		url, stop, err := redistest.Start()
		if err != nil {
			if os.Getenv("CI") == "true" {
				fmt.Fprintf(os.Stderr, "redisstore: REDIS_URL is unset and no redis-server could be started under CI: %v\n", err)
				return 1
			}
			fmt.Fprintf(os.Stderr, "redisstore: skipping Redis tests: %v\n", err)
		} else {
			defer stop()
			serverURL, ownServer = url, true
		}
	}
	return m.Run()
}

func client(tb testing.TB) *redis.Client {
	tb.Helper()
	if serverURL == "" {
		tb.Skip("no Redis: set REDIS_URL or install redis-server")
	}
	return redistest.Client(tb, serverURL)
}

// open gives each test its own key prefix on the shared server, so tests
// never see each other's notes and a shared REDIS_URL is left usable.
func open(tb testing.TB) review.Store {
	return redisstore.New(client(tb), fmt.Sprintf("{t%s}:", review.NewID()[:10]))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, open)
}

func TestOpen(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	s, err := redisstore.Open(ctx, serverURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if !ownServer {
		return // never reconfigure a shared server
	}
	// A server that may evict keys is refused.
	old, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		t.Skipf("CONFIG not allowed: %v", err)
	}
	if err := c.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	defer c.ConfigSet(ctx, "maxmemory-policy", old["maxmemory-policy"])
	if s, err := redisstore.Open(ctx, serverURL); err == nil {
		s.Close()
		t.Error("Open accepted a server with maxmemory-policy allkeys-lru")
	}
	if _, err := redisstore.Open(ctx, "not a url"); err == nil {
		t.Error("Open accepted a bad URL")
	}
}

// countingPusher stands in for an EHR: it counts pushes per note and
// version.
type countingPusher struct {
	mu    sync.Mutex
	count map[string]int
}

func (p *countingPusher) Push(ctx context.Context, n *review.Note) (review.PushResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := fmt.Sprintf("%s/%d", n.ID, n.ApprovedVersion)
	p.count[key]++
	return review.PushResult{ExternalID: key}, nil
}

// TestWorkersShareQueue runs the Service and two gateway instances' push
// workers on one Redis: every approved note is pushed exactly once.
func TestWorkersShareQueue(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	prefix := fmt.Sprintf("{t%s}:", review.NewID()[:10])
	svc := review.NewService(redisstore.New(c, prefix), review.ServiceOptions{})
	a := review.Actor{Subject: "dr-a", Clinic: "c1", Role: review.RoleClinician}
	var ids []string
	for range 20 {
		n, err := svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StatePendingReview})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Approve(ctx, a, n.ID, n.Version); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, n.ID)
	}
	p := &countingPusher{count: map[string]int{}}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, id := range []string{"gw1", "gw2"} {
		// Each instance has its own client, as separate processes would.
		w := review.NewWorker(redisstore.New(client(t), prefix), p, review.WorkerOptions{ID: id, Concurrency: 2, PollInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		wg.Go(func() { w.Run(rctx) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		counts, err := svc.List(ctx, a, review.Query{States: []review.State{review.StatePushed}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(counts.Notes) == len(ids) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pushed", len(counts.Notes), len(ids))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for _, id := range ids {
		if c := p.count[id+"/1"]; c != 1 {
			t.Errorf("note %s pushed %d times", id, c)
		}
	}
}

// TestStreamOutbox checks the Redis layout the package doc promises: a due
// job is an entry of the stream, pending with the consumer that claimed
// it, and a takeover XCLAIMs it to the new worker; settling acknowledges
// it.
func TestStreamOutbox(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	prefix := fmt.Sprintf("{t%s}:", review.NewID()[:10])
	s := redisstore.New(c, prefix)
	now := time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC)
	if err := s.CreateNote(ctx, &review.Note{ID: "n1", Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StateApproved, Version: 1, CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		return &review.Change{Enqueue: &review.PushJob{NoteID: "n1", Clinic: "c1", Version: 1, DueAt: now}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	stream := prefix + "stream"
	pending := func() []redis.XPendingExt {
		t.Helper()
		ps, err := c.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: "pushers", Start: "-", End: "+", Count: 10}).Result()
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if _, err := s.ClaimPushJob(ctx, "gw1", now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if ps := pending(); len(ps) != 1 || ps[0].Consumer != "gw1" {
		t.Fatalf("pending after claim: %+v, want one entry held by gw1", ps)
	}
	j, err := s.ClaimPushJob(ctx, "gw2", now.Add(2*time.Minute), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ps := pending(); len(ps) != 1 || ps[0].Consumer != "gw2" || ps[0].RetryCount < 2 {
		t.Fatalf("pending after takeover: %+v, want the entry claimed by gw2", ps)
	}
	if _, err := s.UpdateNote(ctx, "n1", func(n *review.Note) (*review.Change, error) {
		return &review.Change{Settle: &review.Settlement{Job: j}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if ps := pending(); len(ps) != 0 {
		t.Errorf("pending after settling: %+v", ps)
	}
	if n, _ := c.XLen(ctx, stream).Result(); n != 0 {
		t.Errorf("stream holds %d entries after settling", n)
	}
}

// TestMigrateJobs: a job queued by a gateway of the first layout (a sorted
// set "jobs") is claimable after Open.
func TestMigrateJobs(t *testing.T) {
	ctx := context.Background()
	c := client(t)
	if !ownServer {
		t.Skip("Open uses the default prefix; not on a shared server")
	}
	prefix := redisstore.DefaultPrefix
	c.HSet(ctx, prefix+"job:77", "note_id", "n-old", "clinic", "c1", "version", 2, "due_at", 1, "attempts", 0, "owner", "", "lease_until", 0, "last_error", "")
	c.Set(ctx, prefix+"jobnote:n-old", "77", 0)
	c.ZAdd(ctx, prefix+"jobs", redis.Z{Score: 1, Member: "77"})
	t.Cleanup(func() {
		c.Del(ctx, prefix+"job:77", prefix+"jobnote:n-old", prefix+"sched", prefix+"stream", prefix+"leases")
	})
	s, err := redisstore.Open(ctx, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j, err := s.ClaimPushJob(ctx, "gw", time.Now(), time.Minute)
	if err != nil {
		t.Fatalf("the old layout's job was not claimable: %v", err)
	}
	if j.ID != "77" || j.NoteID != "n-old" || j.Version != 2 || j.Attempts != 1 {
		t.Errorf("claimed %+v", j)
	}
	if n, _ := c.Exists(ctx, prefix+"jobs").Result(); n != 0 {
		t.Error("the old jobs set remains")
	}
}

// TestEventsAcrossClients: an event published through one client reaches
// a subscriber on another (two gateway instances), for its clinic only.
func TestEventsAcrossClients(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prefix := fmt.Sprintf("{t%s}:", review.NewID()[:10])
	pub, sub := redisstore.New(client(t), prefix), redisstore.New(client(t), prefix)
	ch, err := sub.Subscribe(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := sub.Subscribe(ctx, "c2")
	if err != nil {
		t.Fatal(err)
	}
	want := review.Event{Type: review.EventNote, NoteID: "n1", Clinic: "c1", Clinician: "dr-a", State: review.StateApproved, Version: 3}
	if err := pub.Publish(ctx, want); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch:
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event never arrived")
	}
	if err := pub.Publish(ctx, review.Event{Type: review.EventNote, NoteID: "n2", Clinic: "c2"}); err != nil {
		t.Fatal(err)
	}
	if got := <-other; got.NoteID != "n2" {
		t.Errorf("c2 got %+v", got)
	}
	select {
	case got := <-ch:
		t.Errorf("c1 got c2's event %+v", got)
	default:
	}
	cancel()
	for range ch {
	}
}

// TestSessionLeases: on a store gateways share, a session's lease is one
// owner's until it is released or runs out; the owner renews it; another
// owner's claim says who holds it and until when.
func TestSessionLeases(t *testing.T) {
	ctx := context.Background()
	clk := time.Now()
	svc := review.NewService(open(t), review.ServiceOptions{Now: func() time.Time { return clk }})
	const ttl = time.Minute
	if err := svc.ClaimSession(ctx, "s1", "gw-a", ttl); err != nil {
		t.Fatal(err)
	}
	err := svc.ClaimSession(ctx, "s1", "gw-b", ttl)
	var held *review.SessionHeldError
	if !errors.As(err, &held) || held.Owner != "gw-a" || !held.Until.Equal(clk.Add(ttl).UTC()) || !errors.Is(err, review.ErrLocked) {
		t.Fatalf("gw-b's claim of gw-a's session: %v, want held by gw-a until %v", err, clk.Add(ttl))
	}
	if err := svc.ClaimSession(ctx, "s2", "gw-b", ttl); err != nil {
		t.Errorf("another session: %v", err)
	}
	clk = clk.Add(ttl / 2)
	if err := svc.ClaimSession(ctx, "s1", "gw-a", ttl); err != nil { // a renewal
		t.Fatalf("gw-a renews: %v", err)
	}
	clk = clk.Add(ttl * 3 / 4) // past the first lease, within the renewed one
	if err := svc.ClaimSession(ctx, "s1", "gw-b", ttl); !errors.As(err, &held) {
		t.Fatalf("gw-b's claim within gw-a's renewed lease: %v", err)
	}
	if err := svc.ReleaseSession(ctx, "s1", "gw-b"); err != nil { // not gw-b's: a no-op
		t.Fatal(err)
	}
	if err := svc.ClaimSession(ctx, "s1", "gw-b", ttl); !errors.As(err, &held) {
		t.Fatalf("gw-b released gw-a's lease: %v", err)
	}
	if err := svc.ReleaseSession(ctx, "s1", "gw-a"); err != nil {
		t.Fatal(err)
	}
	if err := svc.ClaimSession(ctx, "s1", "gw-b", ttl); err != nil {
		t.Fatalf("gw-b's claim of the released session: %v", err)
	}
	clk = clk.Add(2 * ttl) // gw-b stops renewing: its lease runs out
	if err := svc.ClaimSession(ctx, "s1", "gw-a", ttl); err != nil {
		t.Fatalf("gw-a's claim after gw-b's lease ran out: %v", err)
	}
}
