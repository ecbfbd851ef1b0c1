package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/review/storetest"
)

// writer approves notes and appends a session's audio without pause,
// remembering what the store acknowledged: every acknowledged approval
// and byte must survive whatever happens to the servers.
type writer struct {
	s *redisstore.Store

	mu       sync.Mutex
	approved []string // acknowledged approvals
	durable  int64    // acknowledged audio
	refused  int      // writes answered ErrUnavailable
	other    []error  // anything else: a test failure
}

func (w *writer) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		id := fmt.Sprintf("n%06d", i)
		err := w.approve(ctx, id)
		w.mu.Lock()
		off := w.durable
		w.mu.Unlock()
		size, aerr := w.s.AppendAudio(ctx, "sess", off, audioAt(off, 320))
		w.mu.Lock()
		for _, e := range []error{err, aerr} {
			switch {
			case e == nil:
			case errors.Is(e, review.ErrUnavailable), ctx.Err() != nil:
				w.refused++
			default:
				w.other = append(w.other, e)
			}
		}
		if err == nil {
			w.approved = append(w.approved, id)
		}
		if aerr == nil {
			w.durable = size
		}
		w.mu.Unlock()
		if err != nil || aerr != nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// approve creates a note pending review and approves it, as two
// acknowledged writes; only the approval's acknowledgement counts.
func (w *writer) approve(ctx context.Context, id string) error {
	now := time.Now().UTC()
	n := &review.Note{ID: id, Clinic: "c1", Clinician: "dr", Patient: "p1", State: review.StatePendingReview, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := w.s.CreateNote(ctx, n, nil); err != nil && !errors.Is(err, review.ErrExists) {
		return err
	}
	_, err := w.s.UpdateNote(ctx, id, func(n *review.Note) (*review.Change, error) {
		n.State, n.ApprovedVersion = review.StateApproved, n.Version
		return &review.Change{
			Audit:   []review.AuditEntry{{NoteID: id, Clinic: "c1", Actor: "dr", Action: review.ActionApprove, At: now}},
			Enqueue: &review.PushJob{NoteID: id, Clinic: "c1", Version: n.Version, DueAt: now},
		}, nil
	})
	return err
}

// audioAt is the session's audio from off, as the client sends it.
func audioAt(off int64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((off + int64(i)) % 251)
	}
	return b
}

func (w *writer) acked() (int, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.approved), w.durable
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func role(addr string) string {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	v, err := c.Do(context.Background(), "role").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	r, _ := v[0].(string)
	return r
}

// TestSentinelFailover runs a store on a primary, a replica and Sentinel
// while writes go on, through the faults that lost acknowledged writes
// before: the primary killed and promoted away, then restarted empty on
// its old address (a supervisor), then the new primary stalled long
// enough for Sentinel to promote the other. The store follows Sentinel's
// primary, acknowledges only what a replica confirmed, and loses nothing
// it acknowledged.
func TestSentinelFailover(t *testing.T) {
	// About 40 s: Sentinel's detection, elections and the replicas'
	// reconfiguration, three times.
	if testing.Short() {
		t.Skip("three Sentinel failovers take about 40 s")
	}
	f := redistest.FailoverFor(t, 2)
	ctx := context.Background()
	s := redistest.OpenOptions(t, redisstore.Options{URL: f.URL(), Replicas: 1, ReplicaTimeout: 300 * time.Millisecond})
	w := &writer{s: s}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx) }()
	defer func() { stop(); <-done }()

	progress := func(what string) {
		t.Helper()
		a, d := w.acked()
		// Generous: Sentinel reconfigures the replicas after a
		// failover, which a busy machine slows down.
		deadline := time.Now().Add(90 * time.Second)
		for {
			a2, d2 := w.acked()
			if a2 > a+5 && d2 > d {
				return
			}
			if time.Now().After(deadline) {
				w.mu.Lock()
				defer w.mu.Unlock()
				stored, err := s.AudioSize(ctx, "sess")
				var first error
				if len(w.other) > 0 {
					first = w.other[0]
				}
				t.Fatalf("timed out waiting for %s: %d approvals, %d audio bytes acknowledged (%d stored, %v); %d writes refused; %d other errors, e.g. %v",
					what, a2, d2, stored, err, w.refused, len(w.other), first)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// promoted waits until Sentinel names a primary other than old, and
	// returns it.
	promoted := func(old *redistest.Server) *redistest.Server {
		t.Helper()
		var p string
		waitFor(t, "Sentinel to promote a replica", 30*time.Second, func() bool {
			var err error
			p, err = f.PrimaryAddr(ctx)
			return err == nil && p != old.Addr && role(p) == "master"
		})
		return f.Server(p)
	}
	progress("writes on the first primary")

	// The primary dies; Sentinel promotes a replica.
	old := f.Primary
	old.Kill()
	primary := promoted(old)
	progress("writes on the promoted replica")

	// Its supervisor restarts the old primary, empty, on its old
	// address; Sentinel makes it a replica of the new one.
	if err := old.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old primary to become a replica", 30*time.Second, func() bool { return role(old.Addr) == "slave" })
	progress("writes after the old primary came back")

	// The new primary stalls; Sentinel promotes another; it resumes.
	primary.Stall()
	promoted(primary)
	primary.Resume()
	waitFor(t, "the stalled primary to become a replica", 30*time.Second, func() bool { return role(primary.Addr) == "slave" })
	progress("writes after the stall")
	stop()
	<-done

	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.other) > 0 {
		t.Errorf("%d writes failed with an error that is not ErrUnavailable, e.g. %v", len(w.other), w.other[0])
	}
	if w.refused == 0 {
		t.Error("no write was refused through three faults: the faults did not happen")
	}
	lost := 0
	for _, id := range w.approved {
		n, err := s.GetNote(ctx, id)
		if err != nil || n.State != review.StateApproved {
			lost++
		}
	}
	got, err := s.ReadAudio(ctx, "sess", 0)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(got)) < w.durable || !bytes.Equal(got[:w.durable], audioAt(0, int(w.durable))) {
		t.Errorf("audio: %d bytes acknowledged, %d stored (or they differ)", w.durable, len(got))
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged approvals lost", lost, len(w.approved))
	}
	t.Logf("%d approvals and %d audio bytes acknowledged, all kept; %d writes refused during the faults", len(w.approved), w.durable, w.refused)
}

// TestReplicasNotConfirmed: with a replica required and none attached,
// writes (a sign-in too) and the readiness probe fail with ErrUnavailable instead of
// being acknowledged.
func TestReplicasNotConfirmed(t *testing.T) {
	srv := redistest.ServerFor(t)
	ctx := context.Background()
	s := redistest.OpenOptions(t, redisstore.Options{URL: srv.URL(), Replicas: 1, ReplicaTimeout: 50 * time.Millisecond})
	w := &writer{s: s}
	if err := w.approve(ctx, "n1"); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("approval with no replica: %v, want ErrUnavailable", err)
	}
	if _, err := s.AppendAudio(ctx, "sess", 0, []byte("abcd")); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("audio with no replica: %v, want ErrUnavailable", err)
	}
	if err := s.PutSignIn(ctx, "session:s1", []byte("{}"), time.Now().Add(time.Minute)); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("sign-in with no replica: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("readiness with no replica: %v, want ErrUnavailable", err)
	}
}

// TestResentAudioWaitsForReplica: audio the primary holds but no replica
// confirmed (the first try's WAIT timed out) is not acknowledged when it
// is sent again on another connection while the replica still lacks it.
// The resend writes nothing, and WAIT vouches only for the connection's
// own writes. (Redis 7.0 happened to refuse this case before the store
// bumped a counter before WAIT too; the test holds the store to it.)
func TestResentAudioWaitsForReplica(t *testing.T) {
	primary, replica := redistest.Replicated(t)
	ctx := context.Background()
	opts := redisstore.Options{URL: primary.URL(), Replicas: 1, ReplicaTimeout: 200 * time.Millisecond}
	first := redistest.OpenOptions(t, opts)
	// appended retries an append the replica may be slow to confirm on a
	// busy machine (the timeout is short for the stalled case's sake).
	appended := func(s *redisstore.Store, off int64) (size int64, err error) {
		for range 25 {
			if size, err = s.AppendAudio(ctx, "sess", off, audioAt(off, 640)); !errors.Is(err, review.ErrUnavailable) {
				break
			}
		}
		return size, err
	}
	if _, err := appended(first, 0); err != nil {
		t.Fatal(err)
	}
	replica.Stall()
	defer replica.Resume()
	if _, err := first.AppendAudio(ctx, "sess", 640, audioAt(640, 640)); !errors.Is(err, review.ErrUnavailable) {
		t.Fatalf("append with the replica stalled: %v, want ErrUnavailable", err)
	}
	second := redistest.OpenOptions(t, opts)
	if size, err := second.AppendAudio(ctx, "sess", 640, audioAt(640, 640)); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("resent append with the replica stalled: acknowledged %d bytes (%v), want ErrUnavailable", size, err)
	}
	replica.Resume()
	if size, err := appended(second, 640); err != nil || size != 1280 {
		t.Errorf("resent append with the replica back: %d, %v; want 1280 bytes acknowledged", size, err)
	}
}

// TestApproveRetriedAfterReplicaTimeout: an approval the primary took
// but no replica confirmed fails with ErrUnavailable (the API's 503), and
// so does the client's retry of it while the replica still lacks it:
// nothing a failover could lose is answered 200. Once the replica has it,
// the retry is answered with the approved note, and the trail holds one
// approval.
func TestApproveRetriedAfterReplicaTimeout(t *testing.T) {
	primary, replica := redistest.Replicated(t)
	ctx := context.Background()
	svc := review.NewService(redistest.OpenOptions(t, redisstore.Options{URL: primary.URL(), Replicas: 1, ReplicaTimeout: 200 * time.Millisecond}), review.ServiceOptions{})
	dr := review.Actor{Subject: "dr-a", Clinic: "c1", Role: review.RoleClinician}
	var n *review.Note
	var err error
	// confirmed retries what the replica may be slow to confirm on a busy
	// machine (the timeout is short for the stalled case's sake).
	confirmed := func(do func() (*review.Note, error)) {
		for range 25 {
			if n, err = do(); !errors.Is(err, review.ErrUnavailable) {
				break
			}
		}
	}
	confirmed(func() (*review.Note, error) {
		return svc.Create(ctx, &review.Note{Clinic: "c1", Clinician: "dr-a", Patient: "p1", State: review.StatePendingReview})
	})
	if err != nil {
		t.Fatal(err)
	}
	approve := func() (*review.Note, error) { return svc.Approve(ctx, dr, n.ID, n.Version) }
	replica.Stall()
	defer replica.Resume()
	for _, try := range []string{"approval", "retried approval"} {
		if _, err := approve(); !errors.Is(err, review.ErrUnavailable) {
			t.Fatalf("%s with the replica stalled: %v, want ErrUnavailable", try, err)
		}
	}
	replica.Resume()
	confirmed(approve)
	if err != nil || n.State != review.StateApproved || n.ApprovedBy != "dr-a" {
		t.Fatalf("approval retried with the replica back: %v, %+v", err, n)
	}
	es, err := svc.Audit(ctx, dr, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	approvals := 0
	for _, e := range es {
		if e.Action == review.ActionApprove {
			approvals++
		}
	}
	if approvals != 1 {
		t.Errorf("%d approvals in the audit trail, want 1", approvals)
	}
}

// TestRefusesReplica: a URL naming a replica is refused at Open, and a
// primary demoted under a running store makes its writes fail with
// ErrUnavailable (READONLY) and its readiness probe fail, rather than
// reads passing for health.
func TestRefusesReplica(t *testing.T) {
	primary, other := redistest.ServerFor(t), redistest.ServerFor(t)
	ctx := context.Background()
	s, err := redisstore.Open(ctx, primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	c := redistest.Client(t, primary.URL())
	host, port, _ := strings.Cut(other.Addr, ":")
	if err := c.ReplicaOf(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := redisstore.Open(ctx, primary.URL()); err == nil || !strings.Contains(err.Error(), "not a primary") {
		t.Errorf("Open on a replica: %v, want a refusal", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("readiness of a demoted primary: %v, want ErrUnavailable", err)
	}
	w := &writer{s: s}
	if err := w.approve(ctx, "n1"); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("write to a demoted primary: %v, want ErrUnavailable", err)
	}
}

// TestFence: the fence confirms a write only on the server Sentinel names
// as primary, and once Sentinel has promoted another, no longer on the
// old one, which still answers as a primary until Sentinel demotes it.
func TestFence(t *testing.T) {
	f := redistest.FailoverFor(t, 1)
	ctx := context.Background()
	fo, err := redis.ParseFailoverURL("redis://" + f.Sentinel.Addr + "/0?master_name=" + f.MasterName)
	if err != nil {
		t.Fatal(err)
	}
	fe := redisstore.NewFence(fo)
	defer fe.Close()
	runID := func(addr string) string {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			t.Fatal(err)
		}
		return redisstore.InfoField(info, "run_id")
	}
	old := runID(f.Primary.Addr)
	if err := fe.Check(ctx, old); err != nil {
		t.Fatalf("the primary Sentinel names: %v", err)
	}
	for _, id := range []string{"", runID(f.Replicas[0].Addr)} {
		if err := fe.Check(ctx, id); !errors.Is(err, review.ErrUnavailable) {
			t.Errorf("run id %q (not the primary): %v, want ErrUnavailable", id, err)
		}
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: f.Sentinel.Addr})
	defer sc.Close()
	if err := sc.Failover(ctx, f.MasterName).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := f.PrimaryAddr(ctx)
		if err == nil && a == f.Replicas[0].Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Sentinel did not promote the replica")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := fe.Check(ctx, old); !errors.Is(err, review.ErrUnavailable) {
		t.Errorf("the former primary after the failover: %v, want ErrUnavailable", err)
	}
}

func TestInfoField(t *testing.T) {
	info := "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\ntcp_port:6379\r\n"
	for name, want := range map[string]string{"run_id": "abc123", "tcp_port": "6379", "missing": "", "run": ""} {
		if got := redisstore.InfoField(info, name); got != want {
			t.Errorf("infoField(%q) = %q, want %q", name, got, want)
		}
	}
}

// BenchmarkReplicaWait is what acknowledging only what a replica holds
// costs: an approval (note, audit, push job in one MULTI) and a batch of
// 100 sessions' audio (20 ms each, 16 kHz), on a primary with one replica
// on loopback, without WAIT and with redis_replicas 1.
func BenchmarkReplicaWait(b *testing.B) {
	primary, _ := redistest.Replicated(b)
	ctx := context.Background()
	for _, replicas := range []int{0, 1} {
		s := redistest.OpenOptions(b, redisstore.Options{URL: primary.URL(), Replicas: replicas})
		b.Run(fmt.Sprintf("approve/replicas=%d", replicas), func(b *testing.B) {
			benchApprovals(ctx, b, s, fmt.Sprintf("b%d", replicas))
		})
		b.Run(fmt.Sprintf("audio-batch/replicas=%d", replicas), func(b *testing.B) {
			cpu0 := serverCPU(b, primary.Addr)
			benchAudioBatches(ctx, b, s, fmt.Sprintf("b%d", replicas))
			b.ReportMetric(float64((serverCPU(b, primary.Addr)-cpu0).Microseconds())/float64(b.N), "primary-cpu-µs/op")
		})
	}
}

// serverCPU is the CPU time the Redis server at addr has used (INFO cpu).
func serverCPU(tb testing.TB, addr string) time.Duration {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for line := range strings.Lines(info) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// BenchmarkSentinelFence is what asking Sentinel after WAIT costs: the
// same approval and audio batch on a primary with two replicas and
// Sentinel, through a Sentinel URL (WAIT, then SENTINEL MASTER).
func BenchmarkSentinelFence(b *testing.B) {
	f := redistest.FailoverFor(b, 2)
	ctx := context.Background()
	for _, url := range []string{f.Primary.URL(), f.URL()} {
		name := "primary"
		if strings.Contains(url, "sentinel") {
			name = "sentinel"
		}
		s := redistest.OpenOptions(b, redisstore.Options{URL: url, Replicas: 1})
		b.Run("approve/"+name, func(b *testing.B) {
			benchApprovals(ctx, b, s, "f"+name)
		})
		b.Run("audio-batch/"+name, func(b *testing.B) {
			benchAudioBatches(ctx, b, s, "f"+name)
		})
	}
}

// benchApprovals approves b.N new notes on s, one at a time, their ids
// beginning with prefix, and reports the approvals' latencies.
func benchApprovals(ctx context.Context, b *testing.B, s *redisstore.Store, prefix string) {
	w := &writer{s: s}
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		t0 := time.Now()
		if err := w.approve(ctx, fmt.Sprintf("%s-%d-%d", prefix, b.N, i)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	storetest.ReportLatencies(b, lat)
}

// benchAudioBatches appends b.N batches of 20 ms of audio (16 kHz) to
// each of 100 sessions, their ids beginning with prefix, and reports the
// batches' latencies.
func benchAudioBatches(ctx context.Context, b *testing.B, s *redisstore.Store, prefix string) {
	chunk := audioAt(0, 640)
	batch := make([]review.AudioAppend, 100)
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		for j := range batch {
			batch[j] = review.AudioAppend{SessionID: fmt.Sprintf("%s-%d-%d", prefix, b.N, j), Offset: int64(i * len(chunk)), Data: chunk}
		}
		t0 := time.Now()
		if err := s.AppendAudioBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	storetest.ReportLatencies(b, lat)
}
