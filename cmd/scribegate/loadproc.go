package main

import (
	"bufio"
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
	"syscall"
	"time"

	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
)

// The gateway processes the load tool drives (load.go, and the scale-out
// harness in loadcluster.go): started from this executable, on loopback,
// each with its own configuration file, and measured through /proc and
// their /metrics.

// gatewayDir is the temporary directory of one load run: below it the
// data directory of each gateway the run starts, and beside them the
// development secret they all sign tokens with.
type gatewayDir struct {
	path   string
	secret []byte
}

func newGatewayDir() (*gatewayDir, error) {
	dir, err := os.MkdirTemp("", "scribegate-load-")
	if err != nil {
		return nil, err
	}
	secret, err := devSecret(filepath.Join(dir, "dev-secret"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &gatewayDir{path: dir, secret: secret}, nil
}

// remove deletes the directory, with what its gateways stored.
func (d *gatewayDir) remove() { os.RemoveAll(d.path) }

// token mints a token the directory's gateways take: subject sub,
// clinic "load".
func (d *gatewayDir) token(sub string, role review.Role, ttl time.Duration) string {
	t, _ := auth.MintToken(d.secret, auth.Claims{RegisteredClaims: registered(sub, "", ""), Clinic: "load", Role: role}, ttl)
	return t
}

// serve starts `scribegate serve` (this executable, with extra
// arguments) on a free loopback port and returns once its /healthz
// answers. Its configuration, written to d/name/scribegate.yaml, is
// listen, log_level error, data_dir d/name and auth.dev_secret_file d's,
// followed by body (YAML). The child's SCRIBEGATE_CONFIG is cleared so
// that the caller's cannot point it at another file; it is killed if it
// does not become healthy.
func (d *gatewayDir) serve(ctx context.Context, name, body string, stderr io.Writer, extra ...string) (*exec.Cmd, string, error) {
	addr, err := freePort()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(d.path, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "scribegate.yaml")
	cfg := fmt.Sprintf("listen: %s\nlog_level: error\ndata_dir: %s\nauth: {dev_secret_file: %s}\n",
		addr, dir, filepath.Join(d.path, "dev-secret")) + body
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, "", err
	}
	cmd, err := selfCommand(ctx, stderr, append([]string{"serve", "-config", path}, extra...)...)
	if err != nil {
		return nil, "", err
	}
	cmd.Env = append(os.Environ(), "SCRIBEGATE_CONFIG=")
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	if err := waitHTTP(ctx, "http://"+addr+"/healthz"); err != nil {
		kill(cmd)
		return nil, "", err
	}
	return cmd, addr, nil
}

// startBaseline starts the bare server the gateway is measured against
// (`load -baseline-server`, serveBaseline) and returns the address it
// listens on.
func startBaseline(ctx context.Context, stderr io.Writer) (*exec.Cmd, string, error) {
	cmd, err := selfCommand(ctx, stderr, "load", "-baseline-server")
	if err != nil {
		return nil, "", err
	}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		kill(cmd)
		return nil, "", fmt.Errorf("baseline server: %w", err)
	}
	return cmd, strings.TrimSpace(line), nil
}

// selfCommand runs this executable with args, its stderr to stderr.
func selfCommand(ctx context.Context, stderr io.Writer, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = stderr
	return cmd, nil
}

// stopGateway stops a gateway as an operator would (SIGTERM, which
// finishes its sessions), and kills it if it has not stopped in 2 minutes.
func stopGateway(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
	}
}

// kill ends a process the load tool started, at once.
func kill(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// raiseFileLimit lifts the soft open-file limit to the hard one: a
// thousand sessions need two thousand sockets on loopback. Children
// inherit it.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
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

// metricSamples returns the sample lines of metric family name ("name
// value", "name_bucket{le=\"0.1\"} value", …) from the /metrics at url;
// none when it does not answer in time (a killed instance) or has no such
// metric (the baseline). It asks for that family alone, uncompressed: the
// gateway's CPU is what is measured, and a whole gzipped exposition twice
// a second cost it 2% at 100 sessions (a Prometheus server scrapes every
// 15 s or so). The gateway still collects every metric for it, its
// process's among them.
func metricSamples(ctx context.Context, url, name string, timeout time.Duration) []string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"?name[]="+name, nil)
	if err != nil {
		return nil
	}
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var samples []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), name) {
			samples = append(samples, sc.Text())
		}
	}
	return samples
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
