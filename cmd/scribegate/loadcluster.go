package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/review/redisstore"
	"github.com/scribegate/scribegate/review/redisstore/redistest"
)

// The scale-out harness (`scribegate load -instances N`): N gateway
// processes on one Redis (a primary, two replicas and Sentinel, every
// write confirmed by one replica: store.redis_replicas 1) behind a
// loopback TCP load balancer; real-time sessions that resume with
// session= whenever their connection drops, and reviewers approving
// seeded notes at a steady rate, while one fault is made (-chaos). It
// prints what was acknowledged and lost: approvals (answered 200, or 409
// on a note that shows approved after a 503), audio bytes (each
// session's stored audio against what its client sent, by sha256, up to
// the last Durable), notes with an utterance twice, and the approval
// outage (the longest time with no approval answered).

// chaosFaults are the faults -chaos makes, a third into the run.
var chaosFaults = []string{"none", "gateway-kill", "primary-kill", "primary-restart", "primary-stall"}

type clusterRun struct {
	loadRun
	instances int
	chaos     string
	approvals int // per second
	stall     time.Duration
}

// clusterResult is one run's row.
type clusterResult struct {
	chaos                          string
	instances, sessions            int
	approvalsAcked, approvalsLost  int
	approvalOutage                 time.Duration
	audioAcked, audioLost          int64
	audioMismatch, duplicateUtts   int
	resumes, unfinished, errors    int
	durable                        []time.Duration
	faultAt                        time.Duration
	clientsWithoutNote, notesTotal int
	// The gateways' own histograms, summed over the instances alive at
	// the end: each audio batch's AppendAudioBatch, and a batch's first
	// audio waiting to its Durables sent.
	storeBatch, durableLag histogram
}

func (r clusterRun) run(ctx context.Context, stderr io.Writer) (clusterResult, error) {
	res := clusterResult{chaos: r.chaos, instances: r.instances, sessions: r.sessions}
	redis, err := redistest.StartFailover(2)
	if err != nil {
		return res, fmt.Errorf("load: start Redis with Sentinel: %w", err)
	}
	defer redis.Close()
	dir, err := newGatewayDir()
	if err != nil {
		return res, err
	}
	defer dir.remove()
	gws := make([]*exec.Cmd, r.instances)
	addrs := make([]string, r.instances)
	cfg := fmt.Sprintf(`transcription: {engine: synthetic}
streaming: {idle_timeout: 2m, orphan_scan_interval: 10s}
store: {driver: redis, redis_url: %q, redis_replicas: 1, redis_replica_timeout: 1s}
`, redis.URL())
	for i := range gws {
		cmd, addr, err := dir.serve(ctx, fmt.Sprint("gw", i), cfg, stderr)
		if err != nil {
			return res, err
		}
		gws[i], addrs[i] = cmd, addr
		defer kill(cmd)
	}
	lb, err := newBalancer(addrs)
	if err != nil {
		return res, err
	}
	defer lb.Close()
	store, err := redisstore.Open(ctx, redis.URL())
	if err != nil {
		return res, err
	}
	defer store.Close()

	// Notes for the reviewers, seeded as if drafted.
	total := r.approvals*int(r.duration/time.Second) + 1
	ids, err := seedNotes(ctx, store, total)
	if err != nil {
		return res, err
	}
	reviewer := dir.token("reviewer", review.RoleReviewer, 2*time.Hour)

	start := time.Now()
	fault := r.duration / 3
	res.faultAt = fault
	faultDone := make(chan struct{})
	go func() {
		defer close(faultDone)
		select {
		case <-time.After(fault):
		case <-ctx.Done():
			return
		}
		if err := r.makeFault(ctx, redis, gws[0], stderr); err != nil {
			fmt.Fprintln(stderr, "load: fault:", err)
		}
	}()

	appr := &approvals{}
	apprDone := make(chan struct{})
	go func() {
		defer close(apprDone)
		appr.run(ctx, "http://"+lb.Addr(), reviewer, ids, r.approvals, r.duration)
	}()

	clients := make([]*resumingClient, r.sessions)
	var wg sync.WaitGroup
	for i := range clients {
		c := &resumingClient{base: "ws://" + lb.Addr(), token: dir.token(fmt.Sprintf("load-%d", i), review.RoleClinician, 2*time.Hour),
			patient: fmt.Sprintf("load-%d", i), clip: r.clips[i%len(r.clips)], frames: int(r.duration / loadPeriod)}
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(r.startAfter(i))
			c.run(ctx)
		}()
	}
	wg.Wait()
	<-apprDone
	<-faultDone
	for _, a := range addrs {
		res.storeBatch.add(scrapeHistogram(ctx, "http://"+a+"/metrics", "scribegate_audio_store_seconds"))
		res.durableLag.add(scrapeHistogram(ctx, "http://"+a+"/metrics", "scribegate_durable_lag_seconds"))
	}
	fmt.Fprintf(stderr, "load: streams done after %s; checking the store\n", time.Since(start).Round(time.Second))

	// What was acknowledged must be in the store.
	res.approvalsAcked, res.approvalOutage = len(appr.acked), appr.outage(start, time.Now())
	for _, id := range appr.acked {
		n, err := store.GetNote(ctx, id)
		if err != nil || n.State == review.StatePendingReview {
			res.approvalsLost++
		}
	}
	failures := map[string]int{}
	for _, c := range clients {
		if c.failure != "" {
			failures[c.failure]++
		}
	}
	for f, n := range failures {
		fmt.Fprintf(stderr, "load: %d client(s) failed: %s\n", n, f)
	}
	for _, c := range clients {
		res.resumes += c.resumes
		res.errors += c.errors
		res.durable = append(res.durable, c.durable...)
		res.audioAcked += c.acked
		if c.id == "" {
			res.clientsWithoutNote++
			continue
		}
		stored, err := store.ReadAudio(ctx, c.id, 0)
		if err != nil {
			res.audioLost += c.acked
			continue
		}
		sent := c.sent()
		if sha256.Sum256(stored) != sha256.Sum256(sent) {
			res.audioMismatch++
		}
		same := int64(commonPrefix(stored, sent))
		res.audioLost += max(0, c.acked-same)
		n, err := waitNote(ctx, store, c.id)
		if err != nil {
			res.unfinished++
			continue
		}
		res.notesTotal++
		if repeatedUtterance(n.Transcript) {
			res.duplicateUtts++
		}
	}
	return res, nil
}

// makeFault breaks what -chaos names.
func (r clusterRun) makeFault(ctx context.Context, f *redistest.Failover, gw *exec.Cmd, log io.Writer) error {
	fmt.Fprintln(log, "load: fault:", r.chaos)
	switch r.chaos {
	case "gateway-kill":
		return gw.Process.Signal(syscall.SIGKILL)
	case "primary-kill":
		f.Primary.Kill()
	case "primary-restart":
		// The supervisor restarts it on its old address once Sentinel
		// has promoted another (sooner, an empty primary with no
		// persistence would be synced to by its replicas: Redis's own
		// advice is not to restart it before the failover).
		f.Primary.Kill()
		for {
			a, err := f.PrimaryAddr(ctx)
			if err == nil && a != f.Primary.Addr {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		return f.Primary.Restart()
	case "primary-stall":
		f.Primary.Stall()
		time.Sleep(r.stall)
		f.Primary.Resume()
	}
	return nil
}

// seedNotes stores n notes waiting for review, with an empty draft.
func seedNotes(ctx context.Context, s *redisstore.Store, n int) ([]string, error) {
	now := time.Now().UTC()
	ids := make([]string, n)
	ns := make([]*review.Note, n)
	for i := range ns {
		ids[i] = review.NewID()
		ns[i] = &review.Note{ID: ids[i], Clinic: "load", Clinician: "load-approvals", Patient: fmt.Sprint("p", i), Connector: "file",
			Template: "soap", State: review.StatePendingReview, Version: 1, CreatedAt: now, UpdatedAt: now,
			Draft: note.Draft{Template: "soap", Sections: []note.Section{}}}
	}
	for i := 0; i < n; i += 500 {
		if err := s.ImportNotes(ctx, ns[i:min(n, i+500)]); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// approvals approves notes at a steady rate through the load balancer,
// each until the gateway answers for it.
type approvals struct {
	mu    sync.Mutex
	acked []string
	times []time.Time // when each was answered 200 (or found approved)
}

func (a *approvals) run(ctx context.Context, base, token string, ids []string, rate int, d time.Duration) {
	if rate <= 0 {
		return
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				a.approve(ctx, base, token, id)
			}
		}()
	}
	t := time.NewTicker(time.Second / time.Duration(rate))
	end := time.After(d)
	for _, id := range ids {
		select {
		case <-end:
		case <-ctx.Done():
		case <-t.C:
			work <- id
			continue
		}
		break
	}
	t.Stop()
	close(work)
	wg.Wait()
}

// approve sends the approval until the gateway answers it: 200, or 409
// once an earlier try that was answered 503 turns out to have been
// applied (the note shows approved).
func (a *approvals) approve(ctx context.Context, base, token, id string) {
	c := http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/notes/"+id+"/approve", strings.NewReader(`{"version":1}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK, http.StatusConflict:
				a.mu.Lock()
				a.acked = append(a.acked, id)
				a.times = append(a.times, time.Now())
				a.mu.Unlock()
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// outage is the longest time between from and to in which no approval
// was answered.
func (a *approvals) outage(from, to time.Time) time.Duration {
	a.mu.Lock()
	ts := append([]time.Time{from}, a.times...)
	a.mu.Unlock()
	slices.SortFunc(ts, func(x, y time.Time) int { return x.Compare(y) })
	var longest time.Duration
	for i := 1; i < len(ts); i++ {
		longest = max(longest, ts[i].Sub(ts[i-1]))
	}
	return longest
}

// resumingClient streams one consultation at real-time pace and, when its
// connection drops or is closed for a resume (1012, 1013, 1001), connects
// again with session= and resends at once what the gateway has not
// stored (from the offset its first Durable names), as a recorder that
// keeps its audio until it is acknowledged does.
type resumingClient struct {
	base, token, patient string
	clip                 []byte
	frames               int

	id      string
	acked   int64 // the largest Durable
	resumes int
	errors  int
	failure string // why the client gave up (errors > 0)
	durable []time.Duration
}

// sent is all the audio the client sent.
func (c *resumingClient) sent() []byte {
	b := make([]byte, 0, c.frames*loadFrame)
	for f := range c.frames {
		b = append(b, clipFrame(c.clip, f)...)
	}
	return b
}

func (c *resumingClient) run(ctx context.Context) {
	sentAt := make([]time.Time, 0, c.frames)
	var (
		conn *websocket.Conn
		msgs chan clientMsg
	)
	var last string // the last refusal, for failure
	// fresh says connect began a new session: the first, or again after
	// a resume found that the session never began (no note stored).
	fresh := false
	connect := func() bool {
		for try := 0; ctx.Err() == nil && try < 900; try++ {
			var resume map[string]string
			if c.id != "" {
				resume = map[string]string{"session": c.id, "resume": "true"}
			}
			q := listenQuery(16000, c.patient, resume)
			dl := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
			cn, resp, err := dl.DialContext(ctx, c.base+"/v1/listen?"+q, http.Header{"Authorization": {"Bearer " + c.token}})
			if err != nil {
				last, wait := err.Error(), 200*time.Millisecond
				if resp != nil {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
					last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
					// As a client should: the gateway says when to come back
					// (a session held by an instance whose lease has not yet
					// run out).
					if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
						wait = time.Duration(s) * time.Second
					}
				}
				if resp != nil && resp.StatusCode == http.StatusNotFound && c.id != "" {
					if c.acked > 0 {
						c.failure = "resume: " + last
						return false // the session is gone: finished without this client
					}
					c.id = "" // it never began (its note was not stored): begin again
				}
				time.Sleep(wait)
				continue
			}
			fresh = c.id == ""
			if fresh {
				c.id = resp.Header.Get("dg-request-id")
			} else {
				c.resumes++
			}
			conn, msgs = cn, make(chan clientMsg, 64)
			go readClient(cn, msgs)
			return true
		}
		if c.failure == "" {
			c.failure = "connect: gave up after " + last
		}
		return false
	}
	if !connect() {
		c.errors++
		return
	}
	defer func() { conn.Close() }()
	t0 := time.Now()
	next := 0        // frame to send next
	skip := 0        // bytes of frame next the gateway holds already
	closing := false // CloseStream sent on this connection
	resumed := false // this connection resumed the session
	// A resumed connection sends nothing until its first Durable names
	// the offset to resend from: the gateway takes what comes next as
	// starting there (resume=true).
	waiting := false
	tick := time.NewTicker(loadPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			// Send every frame due by now: one in steady state, the
			// backlog after a resume.
			due := min(c.frames, int(time.Since(t0)/loadPeriod)+1)
			for next < due && !waiting {
				// Durable latency is from the frame's last sending: a
				// resent frame's from its resending, not from before the
				// outage.
				if next == len(sentAt) {
					sentAt = append(sentAt, time.Now())
				} else {
					sentAt[next] = time.Now()
				}
				conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if conn.WriteMessage(websocket.BinaryMessage, clipFrame(c.clip, next)[skip:]) != nil {
					break // the reader reports the connection's end
				}
				next, skip = next+1, 0
			}
			if next == c.frames && !closing && !waiting {
				closing = true
				conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"CloseStream"}`))
			}
		case m := <-msgs:
			switch {
			case m.Type == "Durable":
				c.acked = max(c.acked, m.Bytes)
				if m.first && resumed {
					// Resend from what the gateway holds. (On a session's
					// first connection the gateway has every frame sent:
					// sending some again would store them twice.)
					at := min(m.Bytes, int64(c.frames*loadFrame))
					next, skip, waiting = int(at/loadFrame), int(at%loadFrame), false
				} else if i := int(m.Bytes/loadFrame) - 1; i >= 0 && i < len(sentAt) {
					c.durable = append(c.durable, time.Since(sentAt[i]))
				}
			case m.Type == "NoteReady":
				return
			case m.closed:
				conn.Close()
				if !m.resume {
					if !closing {
						c.errors++ // closed for good before the end
						c.failure = fmt.Sprintf("closed with %d before the end", m.code)
					}
					return
				}
				if !connect() {
					c.errors++
					return
				}
				closing, resumed, waiting = false, !fresh, !fresh
				if fresh {
					// A new session: it gets every frame from the first
					// (a new session sends no Durable before it stores
					// audio, so there is none to wait for).
					next, skip, c.acked = 0, 0, 0
					clear(sentAt)
					sentAt = sentAt[:0]
				}
			}
		}
	}
}

// clientMsg is a message from the gateway, or the end of the connection.
type clientMsg struct {
	gatewayMessage
	first  bool // the first Durable on this connection
	closed bool
	code   int
	resume bool // closed for the client to come back
}

func readClient(c *websocket.Conn, out chan<- clientMsg) {
	first := true
	err := readGateway(c, func(m gatewayMessage, _ time.Time) {
		cm := clientMsg{gatewayMessage: m}
		if m.Type == "Durable" {
			cm.first, first = first, false
		}
		out <- cm
	})
	m := clientMsg{closed: true, resume: true}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		m.code = ce.Code
		m.resume = ce.Code != websocket.CloseNormalClosure
	}
	out <- m
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// waitNote waits for a session's note to leave recording and drafting.
func waitNote(ctx context.Context, s *redisstore.Store, id string) (*review.Note, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, err := s.GetNote(ctx, id)
		if err == nil && n.State != review.StateRecording && n.State != review.StateDrafting {
			return n, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("note %s still %s", id, n.State)
			}
			return nil, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// repeatedUtterance reports an utterance transcribed twice: an Index
// seen again, or a stretch of audio two utterances cover.
func repeatedUtterance(t []note.Line) bool {
	seen := map[int]bool{}
	for _, u := range t {
		if seen[u.Index] {
			return true
		}
		seen[u.Index] = true
	}
	s := slices.Clone(t)
	slices.SortFunc(s, func(a, b note.Line) int { return int(a.Start - b.Start) })
	for i := 1; i < len(s); i++ {
		if s[i].Start < s[i-1].End {
			return true
		}
	}
	return false
}

// balancer is a loopback TCP load balancer: each connection goes to the
// next backend that accepts one, round robin, so a dead instance's share
// moves to the others.
type balancer struct {
	l        net.Listener
	backends []string
	next     atomic.Uint64
}

func newBalancer(backends []string) (*balancer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &balancer{l: l, backends: backends}
	go b.serve()
	return b, nil
}

func (b *balancer) Addr() string { return b.l.Addr().String() }
func (b *balancer) Close() error { return b.l.Close() }

func (b *balancer) serve() {
	for {
		c, err := b.l.Accept()
		if err != nil {
			return
		}
		go b.proxy(c)
	}
}

func (b *balancer) proxy(c net.Conn) {
	defer c.Close()
	var up net.Conn
	for range b.backends {
		a := b.backends[b.next.Add(1)%uint64(len(b.backends))]
		var err error
		if up, err = net.DialTimeout("tcp", a, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
}

// histogram is a Prometheus histogram's cumulative buckets: counts[i]
// observations at most bounds[i] seconds.
type histogram struct {
	bounds []float64
	counts []float64
}

func (h *histogram) add(o histogram) {
	if h.bounds == nil {
		h.bounds, h.counts = o.bounds, slices.Clone(o.counts)
		return
	}
	for i := range min(len(h.counts), len(o.counts)) {
		h.counts[i] += o.counts[i]
	}
}

// quantile is the upper bound of the bucket holding quantile q ("" with
// no observations), as "≤ 8 ms".
func (h histogram) quantile(q float64) string {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return "N/A"
	}
	total := h.counts[len(h.counts)-1] // the +Inf bucket
	for i, c := range h.counts {
		if c >= q*total {
			if math.IsInf(h.bounds[i], 1) {
				return fmt.Sprintf("> %g ms", h.bounds[i-1]*1000)
			}
			return fmt.Sprintf("≤ %g ms", h.bounds[i]*1000)
		}
	}
	return "N/A"
}

// scrapeHistogram reads histogram name from a gateway's /metrics (an
// empty one if it does not answer: a killed instance).
func scrapeHistogram(ctx context.Context, url, name string) histogram {
	var h histogram
	for _, sample := range metricSamples(ctx, url, name, 5*time.Second) {
		rest, ok := strings.CutPrefix(sample, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		bound, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(strings.TrimSpace(count), 64)
		if err1 == nil && err2 == nil {
			h.bounds, h.counts = append(h.bounds, bound), append(h.counts, n)
		}
	}
	return h
}

func printClusterTable(w io.Writer, rows []clusterResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fault\tinstances\tsessions\tapprovals acked\tapprovals lost\tapproval outage\taudio acked\taudio lost\tsha256 differs\tnotes\tunfinished\tutterance twice\tresumes\tclient errors\tDurable p50\tDurable p99\tstore batch p99\tgateway lag p99\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", r.chaos, r.instances, r.sessions,
			r.approvalsAcked, r.approvalsLost, r.approvalOutage.Seconds(), r.audioAcked, r.audioLost, r.audioMismatch,
			r.notesTotal, r.unfinished+r.clientsWithoutNote, r.duplicateUtts, r.resumes, r.errors, msAt(r.durable, 0.5), msAt(r.durable, 0.99),
			r.storeBatch.quantile(0.99), r.durableLag.quantile(0.99))
	}
	tw.Flush()
}

// runCluster is `scribegate load -instances N`: one run per fault named
// in chaos (comma-separated), one table.
func runCluster(ctx context.Context, base loadRun, instances int, chaos string, approvals int, stall time.Duration, stdout, stderr io.Writer) error {
	var rows []clusterResult
	for _, c := range strings.Split(chaos, ",") {
		if !slices.Contains(chaosFaults, c) {
			return fmt.Errorf("load: -chaos %q: want one or more of %s", c, strings.Join(chaosFaults, ", "))
		}
		if c == "gateway-kill" && instances < 2 {
			return errors.New("load: -chaos gateway-kill needs -instances 2 or more")
		}
	}
	for _, c := range strings.Split(chaos, ",") {
		r := clusterRun{loadRun: base, instances: instances, chaos: c, approvals: approvals, stall: stall}
		res, err := r.run(ctx, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, res)
		printClusterTable(stderr, rows[len(rows)-1:]) // as it goes
	}
	printClusterTable(stdout, rows)
	return nil
}
