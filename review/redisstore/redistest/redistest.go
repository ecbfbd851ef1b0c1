// Package redistest starts a real redis-server for tests, so that the Redis
// store and the gateways sharing it are tested against Redis itself rather
// than a stand-in.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scribegate/scribegate/review/redisstore"
)

// Start starts redis-server on a free loopback port, with no persistence
// and maxmemory-policy noeviction (what the store requires), and returns
// its URL and a function that stops it and removes its directory.
func Start() (url string, stop func(), err error) {
	s, err := StartServer()
	if err != nil {
		return "", nil, err
	}
	return s.URL(), s.Close, nil
}

// Server is a redis-server process that a test (or the load tool's chaos
// runs) can kill, stall and restart on the same address, as machines and
// their supervisors do.
type Server struct {
	// Addr is the server's loopback host:port.
	Addr string

	bin  string
	args []string
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *strings.Builder
}

// StartServer starts redis-server on a free loopback port with no
// persistence, maxmemory-policy noeviction and extra arguments (e.g.
// "--replicaof", "127.0.0.1 6379"), and waits until it answers.
func StartServer(extra ...string) (*Server, error) {
	return startProcess(nil, extra...)
}

// startProcess starts redis-server on a free port: with conf (a config
// file's text, for Sentinel) or the store's flags and extra.
func startProcess(conf func(port int, dir string) string, extra ...string) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin, dir: dir}
	if conf != nil {
		path := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(path, []byte(conf(port, dir)), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.args = []string{path, "--sentinel"}
	} else {
		s.args = append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--maxmemory-policy", "noeviction", "--dir", dir, "--repl-diskless-sync-delay", "0"}, extra...)
	}
	if err := s.Restart(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Restart starts the server again on its address (after Kill), as a
// supervisor would, and waits until it answers. With no persistence it
// comes back empty.
func (s *Server) Restart() error {
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.dir
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.cmd, s.out = cmd, out
	s.mu.Unlock()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
		if i == 200 {
			s.Kill()
			return fmt.Errorf("redis-server did not answer: %s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// StartReplica starts a replica of s and waits until s has a write
// confirmed by it (WAIT), so that writes to s can be confirmed from the
// first. The replica's ROLE says "connected" as soon as it has loaded
// the primary's snapshot, but after a diskless sync the primary streams
// writes to it only once its first REPLCONF ACK arrives, which the
// replica sends once a second: until then a WAIT blocks for up to that
// second, and a caller's own WAIT with a 1s timeout (a gateway's
// readiness probe, a confirmed write) may time out.
func (s *Server) StartReplica() (*Server, error) {
	host, port, _ := net.SplitHostPort(s.Addr)
	r, err := StartServer("--replicaof", host, port)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	_, rport, _ := net.SplitHostPort(r.Addr)
	for i := 0; ; i++ {
		// A write and its undoing (both replicated, leaving nothing
		// behind), the primary's offset after them, a WAIT for more
		// replicas than there are, which asks them all for their
		// offsets (GETACK) and gives them 25ms, and the offsets they
		// acknowledged: this replica must have the write. WAIT's own
		// count would not do: another replica may answer it.
		var before, after *redis.Cmd
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "redistest:replica-synced", 1, 0)
			p.Del(ctx, "redistest:replica-synced")
			before = p.Do(ctx, "role")
			p.Do(ctx, "wait", 1000, 25)
			after = p.Do(ctx, "role")
			return nil
		})
		if err == nil && ackedBy(after, rport) >= roleOffset(before) {
			return r, nil
		}
		if i == 400 {
			r.Close()
			return nil, fmt.Errorf("replica of %s did not sync", s.Addr)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// roleOffset is the replication offset in a primary's ROLE reply
// (master, offset, replicas), or -1.
func roleOffset(role *redis.Cmd) int64 {
	v, err := role.Slice()
	if err != nil || len(v) < 3 {
		return -1
	}
	off, _ := v[1].(int64)
	return off
}

// ackedBy is the offset the replica listening on port last acknowledged,
// from a primary's ROLE reply (each replica: ip, port, offset), or -1.
func ackedBy(role *redis.Cmd, port string) int64 {
	v, err := role.Slice()
	if err != nil || len(v) < 3 {
		return -1
	}
	replicas, _ := v[2].([]any)
	for _, e := range replicas {
		if f, ok := e.([]any); ok && len(f) == 3 && f[1] == port {
			if off, err := strconv.ParseInt(fmt.Sprint(f[2]), 10, 64); err == nil {
				return off
			}
		}
	}
	return -1
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// Stall stops the server's process (SIGSTOP) until Resume: a partition
// or a long pause, after which it answers again as if nothing happened.
func (s *Server) Stall() { s.signal(syscall.SIGSTOP) }

// Resume continues a stalled server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}

// Close kills the server and removes its directory.
func (s *Server) Close() {
	s.Resume()
	s.Kill()
	os.RemoveAll(s.dir)
}

// Failover is a primary, replicas of it and a Sentinel that watches them
// under MasterName and promotes a replica about a second after the
// primary stops answering.
type Failover struct {
	// Primary is the first primary; after a failover Sentinel names
	// another (PrimaryAddr, Server).
	Primary    *Server
	Replicas   []*Server
	Sentinel   *Server
	MasterName string
}

// StartFailover starts a primary, n replicas and a Sentinel.
func StartFailover(n int) (*Failover, error) {
	f := &Failover{MasterName: "scribegate"}
	var err error
	if f.Primary, err = StartServer(); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(f.Primary.Addr)
	for range n {
		r, err := f.Primary.StartReplica()
		if err != nil {
			f.Close()
			return nil, err
		}
		f.Replicas = append(f.Replicas, r)
	}
	f.Sentinel, err = startProcess(func(sport int, dir string) string {
		return fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
			"sentinel monitor %s %s %s 1\n"+
			"sentinel down-after-milliseconds %[3]s 1000\n"+
			"sentinel failover-timeout %[3]s 3000\n"+
			"sentinel parallel-syncs %[3]s 1\n", sport, dir, f.MasterName, host, port)
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	// Sentinel learns of the replicas from the primary's INFO; wait until
	// it has, or it has nothing to promote.
	sc := redis.NewSentinelClient(&redis.Options{Addr: f.Sentinel.Addr})
	defer sc.Close()
	for i := 0; ; i++ {
		rs, err := sc.Replicas(context.Background(), f.MasterName).Result()
		up := 0
		for _, r := range rs {
			if !strings.Contains(r["flags"], "disconnected") {
				up++
			}
		}
		if err == nil && up == n {
			return f, nil
		}
		if i == 400 {
			f.Close()
			return nil, fmt.Errorf("sentinel found no replica: %v %v", rs, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// URL is the store's URL for the primary Sentinel names.
func (f *Failover) URL() string {
	return "redis+sentinel://" + f.Sentinel.Addr + "/0?master_name=" + f.MasterName
}

// PrimaryAddr is the address Sentinel names as the primary now.
func (f *Failover) PrimaryAddr(ctx context.Context) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: f.Sentinel.Addr})
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(ctx, f.MasterName).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// Server returns the server at addr (one of f's), or nil.
func (f *Failover) Server(addr string) *Server {
	for _, s := range append([]*Server{f.Primary}, f.Replicas...) {
		if s.Addr == addr {
			return s
		}
	}
	return nil
}

// Close stops them all.
func (f *Failover) Close() {
	for _, s := range append([]*Server{f.Sentinel, f.Primary}, f.Replicas...) {
		if s != nil {
			s.Close()
		}
	}
}

// URL returns a Redis for tb: $REDIS_URL when set, otherwise a
// redis-server started for this test and stopped when it ends. Without
// redis-server the test is skipped, except under CI (CI=true), where it
// fails.
func URL(tb testing.TB) string {
	tb.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	u, stop, err := Start()
	if err != nil {
		skipOrFail(tb, err)
	}
	tb.Cleanup(stop)
	return u
}

// ServerFor starts a redis-server (StartServer, with extra) for tb and
// stops it when tb ends. Without redis-server the test is skipped, except
// under CI (CI=true), where it fails, as with URL.
func ServerFor(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	s, err := StartServer(extra...)
	if err != nil {
		skipOrFail(tb, err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Replicated starts a primary with one replica that has synced (so that
// writes can be confirmed with WAIT from the first) for tb, both stopped
// when tb ends; skipped like ServerFor without redis-server.
func Replicated(tb testing.TB) (primary, replica *Server) {
	tb.Helper()
	primary = ServerFor(tb)
	replica, err := primary.StartReplica()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(replica.Close)
	return primary, replica
}

// FailoverFor starts a primary, n replicas and a Sentinel
// (StartFailover) for tb and stops them when tb ends; skipped like
// ServerFor without redis-server.
func FailoverFor(tb testing.TB, n int) *Failover {
	tb.Helper()
	f, err := StartFailover(n)
	if err != nil {
		skipOrFail(tb, err)
	}
	tb.Cleanup(f.Close)
	return f
}

// Open opens a store on the Redis at url as a gateway does
// (redisstore.Open), failing tb if it cannot, and closes it when tb ends.
func Open(tb testing.TB, url string) *redisstore.Store {
	tb.Helper()
	return OpenOptions(tb, redisstore.Options{URL: url})
}

// OpenOptions is Open with o (Sentinel, replicas to wait for):
// redisstore.OpenOptions.
func OpenOptions(tb testing.TB, o redisstore.Options) *redisstore.Store {
	tb.Helper()
	s, err := redisstore.OpenOptions(context.Background(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// Client returns a client of the Redis at url, for a test that looks at
// or changes what a store keeps there; it is closed when tb ends.
func Client(tb testing.TB, url string) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opts)
	tb.Cleanup(func() { c.Close() })
	return c
}

// URL is the store URL of database 0 on s.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

func skipOrFail(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("no redis-server under CI: %v", err)
	}
	tb.Skipf("no Redis (set REDIS_URL or install redis-server): %v", err)
}
