package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
	"github.com/scribegate/scribegate/transcription/leveltest"
)

// leaseGateways starts gateways "a" and "b" on one Redis store (a real
// redis-server), for their audio and, through one review service (their
// svc), their notes, with session leases of the given length.
func leaseGateways(t *testing.T, lease time.Duration, mutate ...func(*Options)) (a, b *durableEnv, rs *redisstore.Store) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a redis-server")
	}
	rs = redistest.Open(t, redistest.URL(t))
	svc := review.NewService(rs, review.ServiceOptions{Logger: discard})
	gateway := func(name string) *durableEnv {
		e := newDurableEnv(t, rs, func(o *Options) {
			o.Notes = svc
			o.Instance = name
			o.Limits.SessionLease = lease
			o.Limits.TranscriptSaveInterval = 0
			for _, m := range mutate {
				m(o)
			}
		})
		e.svc = svc
		return e
	}
	return gateway("a"), gateway("b"), rs
}

// TestLeaseLostLetsTheSessionGo: gateway a serves a session whose lease
// ran out (a cut off from the store for longer than a lease: here its
// lock is removed, as expiry would) and gateway b has rebuilt it. At its
// next renewal a finds the lease in b's hands and lets the session go
// unfinished: the client is closed with 1012, the note stays recording,
// and the client resumes on b, which finishes it with every byte and
// utterance once. Before, a went on serving it beside b.
func TestLeaseLostLetsTheSessionGo(t *testing.T) {
	ctx := context.Background()
	const lease = 900 * time.Millisecond
	a, b, rs := leaseGateways(t, lease)
	const n = 6
	pcm, c, id, col := a.startHalf(t, n, 3200)
	defer c.Close()

	if err := rs.ReleaseLock(ctx, "session:"+id, "a"); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if b.srv.lookup(id) == nil {
		t.Fatal("gateway b did not rebuild the session whose lease ran out")
	}
	select {
	case <-col.done:
	case <-time.After(10 * lease):
		t.Fatal("gateway a went on serving a session gateway b holds")
	}
	if col.code != closeServiceRestart {
		t.Errorf("a closed the client with %d, want %d (resume)", col.code, closeServiceRestart)
	}
	waitFor(t, "gateway a to let the session go", func() bool { return a.srv.lookup(id) == nil })
	note, err := b.svc.SessionNote(ctx, id)
	if err != nil || note.State != review.StateRecording {
		t.Fatalf("after a let go the note is %v, %v; want it still recording", note.State, err)
	}
	final := b.resumeAndFinish(t, id, pcm)
	if meta := byType(final, "Metadata"); len(meta) != 1 {
		t.Errorf("resumed on b: %d Metadata messages, want 1", len(meta))
	}
	b.checkNote(t, id, pcm, n)
}

// TestLeasesKeepASessionOnOneGateway: two gateways on one Redis store. A
// session live on gateway a is not rebuilt by gateway b — neither when b
// starts (Recover) nor when a reconnection reaches b (409
// session_elsewhere), while a renews its lease past the lease's length.
// Once a stops without a word (a crash), its lease runs out and b takes
// the session over: the client resumes there and the note has every
// byte and every utterance once.
func TestLeasesKeepASessionOnOneGateway(t *testing.T) {
	ctx := context.Background()
	const lease = 2 * time.Second
	a, b, _ := leaseGateways(t, lease)

	const n = 6
	pcm, _, id, col := a.startHalf(t, n, 3001)
	half := len(pcm) / 2

	if err := b.srv.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if b.srv.lookup(id) != nil {
		t.Fatal("gateway b rebuilt a session live on gateway a")
	}
	resumeOnB := func() (*websocket.Conn, int, string) {
		c, resp, err := b.dial("patient=pat-1&session="+id+"&resume=true", nil)
		if err == nil {
			return c, http.StatusSwitchingProtocols, ""
		}
		if resp == nil {
			t.Fatalf("resume on b: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		json.Unmarshal(body, &e)
		return nil, resp.StatusCode, e.Error.Code
	}
	if _, status, code := resumeOnB(); status != http.StatusConflict || code != apierror.CodeSessionElsewhere {
		t.Fatalf("resume on b while a holds the session: %d %q, want 409 %q", status, code, apierror.CodeSessionElsewhere)
	}
	time.Sleep(lease + lease/2) // a renews its lease meanwhile
	if _, status, code := resumeOnB(); status != http.StatusConflict || code != apierror.CodeSessionElsewhere {
		t.Fatalf("resume on b after a lease's length: %d %q, want 409 %q (a renews)", status, code, apierror.CodeSessionElsewhere)
	}

	a.crash(col) // no release
	var c2 *websocket.Conn
	deadline := time.Now().Add(lease + 10*time.Second)
	for c2 == nil {
		var status int
		var code string
		if c2, status, code = resumeOnB(); c2 == nil {
			if status != http.StatusConflict || time.Now().After(deadline) {
				t.Fatalf("resume on b after a stopped: %d %q", status, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	defer c2.Close()
	d := firstDurable(t, c2, id)
	if d > int64(half) {
		t.Fatalf("durable %d beyond the %d bytes sent", d, half)
	}
	sendAudio(t, c2, pcm[d:], 3001)
	sendText(t, c2, `{"type":"CloseStream"}`)
	if _, code := readAll(t, c2); code != websocket.CloseNormalClosure {
		t.Errorf("close code %d", code)
	}
	b.checkNote(t, id, pcm, n)
}

// TestOrphanScanFinishesSessions: gateway a dies mid-session and its
// client never comes back. Gateway b, running all along, finds the
// session in its periodic scan once a's lease has run out, waits what is
// left of the resume window for the client, and finishes the note from
// the stored audio — before, only a gateway starting up looked.
func TestOrphanScanFinishesSessions(t *testing.T) {
	const lease = time.Second
	a, b, _ := leaseGateways(t, lease, func(o *Options) {
		o.Limits.OrphanScan = 200 * time.Millisecond
		o.Limits.ResumeWindow = time.Second
	})
	if err := b.srv.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 4
	pcm := leveltest.Audio(n)
	c, id, col := a.startSending(t, "patient=pat-1", pcm, 3200, int64(len(pcm)))
	defer c.Close()
	a.crash(col) // no release, no client again
	waitFor(t, "gateway b to finish the orphaned session", func() bool {
		note, err := b.svc.SessionNote(context.Background(), id)
		return err == nil && note.State == review.StatePendingReview
	})
	b.checkNote(t, id, pcm, n)
}
