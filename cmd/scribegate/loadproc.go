package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The gateway processes the load tool drives (load.go, and the scale-out
// harness in loadcluster.go): started from this executable, on loopback,
// each with its own configuration file, and measured through /proc.

// serveGateway starts `scribegate serve` (this executable, with extra
// arguments) on a free loopback port and returns once its /healthz
// answers. Its configuration, written to dir/scribegate.yaml, is listen,
// log_level error and data_dir dir followed by body (YAML). The child's
// SCRIBEGATE_CONFIG is cleared so that the caller's cannot point it at
// another file; it is killed if it does not become healthy.
func serveGateway(ctx context.Context, dir, body string, stderr io.Writer, extra ...string) (*exec.Cmd, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "scribegate.yaml")
	cfg := fmt.Sprintf("listen: %s\nlog_level: error\ndata_dir: %s\n", addr, dir) + body
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, "", err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{"serve", "-config", path}, extra...)...)
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "SCRIBEGATE_CONFIG=")
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	if err := waitHTTP(ctx, "http://"+addr+"/healthz"); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", err
	}
	return cmd, addr, nil
}

// procStats reads a process's CPU time (user+system) and the memory it
// holds: its anonymous resident memory (heap, stacks, buffers; RssAnon),
// not the file pages it maps — its own executable, an audio journal
// segment mapped while it is applied — which are the kernel's page cache
// and there whether mapped or not. VmRSS where RssAnon is not reported.
func procStats(pid int) (cpu time.Duration, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64) // utime is field 14
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	anon := int64(-1)
	for line := range strings.SplitSeq(string(b), "\n") {
		key, v, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "RssAnon") {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if key == "RssAnon" {
			anon = kb << 10
		} else {
			rss = kb << 10
		}
	}
	if anon >= 0 {
		rss = anon
	}
	return cpu, rss, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHTTP(ctx context.Context, u string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("load: gateway did not become healthy at %s", u)
}
