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
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Start starts redis-server on a free loopback port, with no persistence
// and maxmemory-policy noeviction (what the store requires), and returns
// its URL and a function that stops it and removes its directory.
func Start() (url string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--maxmemory-policy", "noeviction", "--dir", dir)
	cmd.Dir = dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	url = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return url, stop, nil
		}
		if i == 200 {
			stop()
			return "", nil, fmt.Errorf("redis-server did not answer: %s", out.String())
		}
		time.Sleep(25 * time.Millisecond)
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
		if os.Getenv("CI") == "true" {
			tb.Fatalf("no redis-server under CI: %v", err)
		}
		tb.Skipf("no Redis (set REDIS_URL or install redis-server): %v", err)
	}
	tb.Cleanup(stop)
	return u
}
