package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
)

// Environment of TestGatewayProcess, the helper that runs a gateway in a
// child process so that a test can kill it with SIGKILL.
const (
	helperConfigEnv = "SCRIBEGATE_TEST_GATEWAY_CONFIG"
	helperAddrEnv   = "SCRIBEGATE_TEST_GATEWAY_ADDR"
)

// TestGatewayProcess is not a test: run by TestTwoInstancesOneRedis in a
// child process, it serves the configured gateway until it is killed.
func TestGatewayProcess(t *testing.T) {
	path := os.Getenv(helperConfigEnv)
	if path == "" {
		t.Skip("helper process for TestTwoInstancesOneRedis")
	}
	ctx := context.Background()
	a, l := listenApp(t, ctx, path)
	if err := os.WriteFile(os.Getenv(helperAddrEnv), []byte(l.Addr().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Fatal(a.run(ctx, l)) // runs until killed
}

// TestTwoInstancesOneRedis runs two gateway instances on one Redis: one in
// this process, one in a child process. A note drafted on the first is
// approved on the second, whose push worker claims the push; the EHR
// stalls it and the second instance is killed (SIGKILL: no release, no
// goodbye). When its lease expires the first instance's worker takes the
// job over from the stream's pending list and files the note: exactly one
// DocumentReference results.
func TestTwoInstancesOneRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child gateway process")
	}
	redisURL := redistest.URL(t)
	ehr := fhirtest.NewServer(t)
	_, aiConfig := fakeOpenAI(t)
	shared := t.TempDir()
	secretFile := filepath.Join(shared, "dev-secret")
	secret, err := devSecret(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	// A unique database keeps a shared REDIS_URL's other data apart.
	config := func(dataDir string) string {
		return fmt.Sprintf(`
data_dir: %q
auth: {dev_secret_file: %q}
%sstore: {driver: redis, redis_url: %q}
push: {lease: 2s, base_backoff: 10ms, max_backoff: 50ms}
connectors:
  default: ehr
  instances:
    ehr: {kind: fhir, base_url: %q}
`, dataDir, secretFile, aiConfig, redisURL, ehr.URL)
	}

	// Instance 1, in this process. Its push worker starts later, so that
	// instance 2 is sure to claim the push first.
	dir1 := t.TempDir()
	cfgPath1 := writeConfigIn(t, dir1, config(dir1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a1, l1 := listenApp(t, ctx, cfgPath1)
	defer a1.close()
	srv1 := &http.Server{Handler: a1.server.Handler()}
	go srv1.Serve(l1)
	defer srv1.Close()
	g1 := &testGateway{URL: "http://" + l1.Addr().String(), secret: secret, cfg: a1.cfg}

	// Instance 2, a child process.
	dir2 := t.TempDir()
	cfgPath2 := writeConfigIn(t, dir2, config(dir2))
	addrFile := filepath.Join(dir2, "addr")
	child := exec.Command(os.Args[0], "-test.run=^TestGatewayProcess$", "-test.v")
	child.Env = append(os.Environ(), helperConfigEnv+"="+cfgPath2, helperAddrEnv+"="+addrFile)
	var childOut strings.Builder
	child.Stdout, child.Stderr = &childOut, &childOut
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Process.Kill()
			child.Wait()
		}
		if t.Failed() {
			t.Logf("instance 2 output:\n%s", childOut.String())
		}
	}()
	var addr2 []byte
	for i := 0; len(addr2) == 0; i++ {
		if i == 1000 {
			t.Fatal("instance 2 did not start")
		}
		time.Sleep(20 * time.Millisecond)
		addr2, _ = os.ReadFile(addrFile)
	}
	g2 := &testGateway{URL: "http://" + string(addr2), secret: secret}

	// Drafted on instance 1.
	clin := g1.token(t, "prac-1", "clinic-a", review.RoleClinician)
	out := g1.streamKnee(t, streamOptions{Token: clin, Patient: "pat-42", Encounter: "enc-7", Chunk: 100 * time.Millisecond})
	// Seen and approved on instance 2, which claims the push; the EHR
	// stalls it.
	ehr.Inject(fhirtest.Fault{Method: "POST", ResourceType: "DocumentReference", Delay: time.Hour}, 1)
	rev := g2.token(t, "rev-1", "clinic-a", review.RoleReviewer)
	// A queue page open on instance 1 hears of the approval on instance 2.
	events := openEvents(t, ctx, g1.URL, rev)
	var n noteView
	if st := g2.call(t, "GET", "/v1/notes/"+out.NoteID, rev, nil, &n); st != http.StatusOK || n.State != "pending_review" {
		t.Fatalf("instance 2 GET: %d %s", st, n.State)
	}
	if st := g2.call(t, "POST", "/v1/notes/"+out.NoteID+"/approve", rev, approval(n), nil); st != http.StatusOK {
		t.Fatalf("approve on instance 2: %d", st)
	}
	waitEvent(t, events, fmt.Sprintf(`"id":%q,"state":"approved"`, out.NoteID))
	g1.waitForState(t, rev, out.NoteID, "pushing")
	childPid := "-" + strconv.Itoa(child.Process.Pid) + "-"
	starts := pushStarts(t, g1, rev, out.NoteID)
	if len(starts) != 1 || !strings.Contains(starts[0], childPid) {
		t.Fatalf("push started by %v, want instance 2 (pid %d)", starts, child.Process.Pid)
	}

	// Instance 2 dies mid-push: once its request is at the EHR, stalled.
	// (Its push_start is audited before the request is sent; killed
	// before it, the stall was left for instance 1's attempt.)
	for i := 0; ehr.PendingFaults() > 0; i++ {
		if i == 1000 {
			t.Fatal("instance 2's push never reached the EHR")
		}
		time.Sleep(10 * time.Millisecond)
	}
	child.Process.Kill()
	child.Wait()
	killed = true

	// Instance 1's worker takes over once the lease has expired.
	go a1.worker.Run(ctx)
	pushed := g1.waitForState(t, rev, out.NoteID, "pushed")
	if docs := ehr.Resources("DocumentReference"); len(docs) != 1 {
		t.Fatalf("EHR holds %d DocumentReferences, want exactly 1", len(docs))
	}
	checkDocumentReference(t, ehr, pushed, "prac-1")
	starts = pushStarts(t, g1, rev, out.NoteID)
	if len(starts) != 2 || strings.Contains(starts[1], childPid) {
		t.Errorf("push starts %v, want instance 2's then instance 1's", starts)
	}
}

// openEvents opens GET /v1/events and returns its data lines.
func openEvents(t *testing.T, ctx context.Context, base, tok string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/events: %d", resp.StatusCode)
	}
	ch := make(chan string, 64)
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				ch <- d
			}
		}
	}()
	return ch
}

// waitEvent waits for a data line containing want; the deadline only keeps
// a broken build from hanging.
func waitEvent(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatalf("event stream ended before %s", want)
			}
			if strings.Contains(d, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no event %s", want)
		}
	}
}

// pushStarts lists the workers that started pushes of the note, from its
// audit trail.
func pushStarts(t *testing.T, g *testGateway, tok, id string) []string {
	t.Helper()
	var body struct {
		Entries []review.AuditEntry `json:"entries"`
	}
	if st := g.call(t, "GET", "/v1/notes/"+id+"/audit", tok, nil, &body); st != http.StatusOK {
		t.Fatalf("audit: %d", st)
	}
	var out []string
	for _, e := range body.Entries {
		if e.Action == review.ActionPushStart {
			out = append(out, e.Actor)
		}
	}
	return out
}
