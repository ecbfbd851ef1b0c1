package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
)

// runLoad is `scribegate load`: N concurrent consultations streaming real
// testdata audio at real-time pace against a gateway started as a
// subprocess (synthetic engine, temp data dir, loopback port) or an
// existing one (-url), then the same frames against a bare gorilla/websocket
// server (the baseline), printing one table. Every session and the whole
// run are bounded in time; traffic goes to loopback only.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sessions := fs.Int("sessions", 100, "concurrent sessions")
	duration := fs.Duration("duration", 20*time.Second, "how long each session streams")
	url := fs.String("url", "", "attach to this gateway (ws://host:port) instead of starting one; loopback only")
	tok := fs.String("token", os.Getenv("SCRIBEGATE_TOKEN"), "token for -url")
	ramp := fs.Duration("ramp", 5*time.Second, "spread session starts over this long (each also moved by its number mod 100 ms, so that the frames spread over their period)")
	audioDir := fs.String("audio", "testdata/consultations", "directory of 16 kHz mono WAV files to stream")
	baseline := fs.Bool("baseline", true, "also run the bare gorilla/websocket baseline, just before and just after the gateway")
	interim := fs.Bool("interim", true, "ask for interim results (interim_results=true), as a live-captioning client does; false streams as a plain recorder")
	profile := fs.String("profile", "", "write the gateway's CPU and heap profiles (cpu.pprof, heap.pprof) taken while streaming to this directory")
	baselineServer := fs.Bool("baseline-server", false, "") // internal: serve the baseline
	instances := fs.Int("instances", 0, "scale-out harness: run this many gateways on Redis (primary, 2 replicas, Sentinel) behind a loopback load balancer, with resuming clients (loadcluster.go)")
	chaos := fs.String("chaos", "none", "with -instances, the faults to make a third into each run, comma-separated: "+strings.Join(chaosFaults, ", "))
	approvalRate := fs.Int("approvals", 130, "with -instances, approvals per second of seeded notes")
	stall := fs.Duration("stall", 2600*time.Millisecond, "with -chaos primary-stall, how long the primary is stopped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raiseFileLimit()
	if *baselineServer {
		return serveBaseline(ctx, stdout)
	}
	if *sessions < 1 || *sessions > 5000 || *duration <= 0 || *duration > 10*time.Minute {
		return errors.New("load: -sessions must be 1..5000 and -duration at most 10m")
	}
	clips, err := loadClips(os.DirFS(*audioDir))
	if err != nil {
		return fmt.Errorf("load: -audio %s: %w", *audioDir, err)
	}
	run := loadRun{sessions: *sessions, duration: *duration, ramp: *ramp, clips: clips, profile: *profile, interim: *interim}
	if *instances > 0 {
		return runCluster(ctx, run, *instances, *chaos, *approvalRate, *stall, stdout, stderr)
	}
	// The baseline runs just before the gateway and just after: the
	// machine's speed drifts over minutes, and the ratio is taken over
	// both (printLoadTable).
	var rows, bare []loadResult
	baselineRun := func(when string) error {
		r, err := run.againstBaseline(ctx, stderr)
		if err != nil {
			return err
		}
		r.name += ", " + when
		bare = append(bare, r)
		return nil
	}
	if *baseline {
		if err := baselineRun("before"); err != nil {
			return err
		}
	}
	if *url != "" {
		if err := loopbackOnly(*url); err != nil {
			return err
		}
		r := run.drive(ctx, *url, func(int) string { return *tok }, nil)
		r.name = "gateway (attached)"
		rows = append(rows, r)
	} else {
		r, err := run.againstGateway(ctx, stderr)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if *baseline {
		if err := baselineRun("after"); err != nil {
			return err
		}
	}
	printLoadTable(stdout, append(rows, bare...))
	return nil
}

func loopbackOnly(u string) error {
	host := u
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host, _, _ = strings.Cut(host, "/")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("load: %s is not a loopback address; the load tool only targets this machine", u)
}

// loadClips reads the 16 kHz mono WAV files at the top of fsys as
// linear16, skipping others. A clip shorter than one loadFrame is an
// error naming it: clipFrame has no whole frame of it to send.
func loadClips(fsys fs.FS) ([][]byte, error) {
	paths, _ := fs.Glob(fsys, "*.wav")
	var clips [][]byte
	for _, p := range paths {
		f, err := fsys.Open(p)
		if err != nil {
			return nil, err
		}
		format, pcm, err := transcription.ReadWAV(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if format.SampleRate != 16000 || format.Channels != 1 {
			continue
		}
		if len(pcm) < loadFrame {
			return nil, fmt.Errorf("%s holds %d bytes of audio, less than one %v frame (%d bytes)", p, len(pcm), loadPeriod, loadFrame)
		}
		clips = append(clips, pcm)
	}
	if len(clips) == 0 {
		return nil, errors.New("no 16 kHz mono WAV files")
	}
	return clips, nil
}

type loadRun struct {
	sessions int
	duration time.Duration
	ramp     time.Duration
	clips    [][]byte
	profile  string // directory for the gateway's profiles; "" for none
	interim  bool   // interim_results=true
}

// loadResult is one row of the table.
type loadResult struct {
	name           string
	baseline       bool // the bare server, the others' yardstick
	sessions, held int
	audioSeconds   float64
	cpuSeconds     float64 // of the server process, -1 when unknown
	rssPerSession  float64 // bytes, -1 when unknown
	// beyondAudio is the server's memory per session less the audio it
	// holds (scribegate_audio_buffered_bytes), at the sample where that
	// was highest; audioPerSession is the audio held then. -1 when unknown.
	beyondAudio, audioPerSession float64
	durable, interim             []time.Duration
	durableSeen                  bool
	interimRequested             bool
	errors                       int
}

// againstGateway starts `scribegate serve` with the synthetic engine in a
// temp dir and drives it.
func (r loadRun) againstGateway(ctx context.Context, stderr io.Writer) (loadResult, error) {
	dir, err := newGatewayDir()
	if err != nil {
		return loadResult{}, err
	}
	defer dir.remove()
	var serveArgs []string
	var pprofAddr string
	if r.profile != "" {
		if pprofAddr, err = freePort(); err != nil {
			return loadResult{}, err
		}
		serveArgs = append(serveArgs, "-pprof", pprofAddr)
	}
	cmd, addr, err := dir.serve(ctx, "gw", "transcription: {engine: synthetic}\nstreaming: {idle_timeout: 2m}\n", stderr, serveArgs...)
	if err != nil {
		return loadResult{}, err
	}
	defer stopGateway(cmd)
	token := func(i int) string {
		return dir.token(fmt.Sprintf("load-%d", i), review.RoleClinician, time.Hour)
	}
	profiled := make(chan error, 1)
	if pprofAddr != "" {
		go func() { profiled <- r.takeProfiles(ctx, "http://"+pprofAddr) }()
	}
	res := r.drive(ctx, "ws://"+addr, token, &cmd.Process.Pid)
	res.name = "gateway"
	if !r.interim {
		res.name = "gateway, no interim"
	}
	if pprofAddr != "" {
		if err := <-profiled; err != nil {
			fmt.Fprintln(stderr, "load: profiles:", err)
		}
	}
	return res, nil
}

// takeProfiles writes a CPU profile of the gateway over the steady part of
// the run (every session started) and a heap profile at its end.
func (r loadRun) takeProfiles(ctx context.Context, base string) error {
	if err := os.MkdirAll(r.profile, 0o755); err != nil {
		return err
	}
	steady := r.duration - r.ramp - 2*time.Second
	if steady < time.Second {
		return errors.New("the run is too short to profile: make -duration longer than -ramp by 3 s or more")
	}
	select {
	case <-time.After(r.ramp + time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	get := func(path, file string) error {
		resp, err := http.Get(base + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		f, err := os.Create(filepath.Join(r.profile, file))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := get(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(steady.Seconds())), "cpu.pprof"); err != nil {
		return err
	}
	return get("/debug/pprof/heap", "heap.pprof")
}

// againstBaseline starts the bare server and sends it the same frames.
func (r loadRun) againstBaseline(ctx context.Context, stderr io.Writer) (loadResult, error) {
	cmd, addr, err := startBaseline(ctx, stderr)
	if err != nil {
		return loadResult{}, err
	}
	defer kill(cmd)
	res := r.drive(ctx, "ws://"+addr, func(int) string { return "" }, &cmd.Process.Pid)
	res.name = "bare gorilla/websocket"
	res.baseline = true
	return res, nil
}

// serveBaseline is the baseline: a gorilla/websocket server that reads
// every frame and discards it, closing normally on CloseStream.
func serveBaseline(ctx context.Context, stdout io.Writer) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, l.Addr().String())
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if typ == websocket.TextMessage && strings.Contains(string(b), "CloseStream") {
				c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
				return
			}
		}
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// A load session sends loadFrame bytes, loadPeriod of 16 kHz linear16,
// every loadPeriod.
const (
	loadFrame  = 3200
	loadPeriod = 100 * time.Millisecond
)

// clipFrame is a load session's frame f of clip: the clip's whole
// loadFrame-byte frames in turn, from the start again after the last.
func clipFrame(clip []byte, f int) []byte {
	i := f % (len(clip) / loadFrame)
	return clip[i*loadFrame : (i+1)*loadFrame]
}

// startAfter is when session i starts: the starts are spread evenly over
// the ramp, and each is moved by i mod 100 ms, so that the sessions'
// frames (one per loadPeriod each) are spread over the period as real
// clients', which start when their consultations do, are. Evenly spaced
// starts alone put every frame in a few bursts a period (two at 100
// sessions over 5 s), which both servers take in batches no real traffic
// offers.
func (r loadRun) startAfter(i int) time.Duration {
	if r.ramp <= 0 {
		return 0
	}
	return r.ramp*time.Duration(i)/time.Duration(r.sessions) + time.Duration(i%100)*loadPeriod/100
}

// drive runs the sessions against base and measures. pid, when set, is the
// server process whose CPU and memory are read.
func (r loadRun) drive(ctx context.Context, base string, token func(int) string, pid *int) loadResult {
	res := loadResult{sessions: r.sessions, cpuSeconds: -1, rssPerSession: -1, beyondAudio: -1, audioPerSession: -1, interimRequested: r.interim}
	metricsURL := "http" + strings.TrimPrefix(base, "ws") + "/metrics"
	var cpu0 time.Duration
	var rss0 int64
	if pid != nil {
		cpu0, rss0, _ = procStats(*pid)
	}
	var (
		mu      sync.Mutex
		held    atomic.Int32
		audio   atomic.Int64 // frames sent
		errs    atomic.Int32
		wg      sync.WaitGroup
		streamC = make(chan struct{}) // closed when every session has stopped sending
		sending sync.WaitGroup
	)
	sending.Add(r.sessions)
	go func() { sending.Wait(); close(streamC) }()
	var peakRSS atomic.Int64
	var peakBeyond, audioAtPeak atomic.Int64 // bytes; -1: no audio metric
	peakBeyond.Store(-1)
	sampled := make(chan struct{})
	if pid == nil {
		close(sampled)
	} else {
		go func() { // sample memory while the sessions stream
			defer close(sampled)
			// Memory is read from /proc every 500 ms, which costs the
			// gateway nothing; with the audio it holds, from its metrics,
			// every 2 s, which costs it a collection of them all.
			t := time.NewTicker(500 * time.Millisecond)
			defer t.Stop()
			for i := 1; ; i++ {
				select {
				case <-streamC:
					return
				case <-t.C:
					_, rss, err := procStats(*pid)
					if err != nil {
						continue
					}
					if rss > peakRSS.Load() {
						peakRSS.Store(rss)
					}
					if i%4 != 0 {
						continue
					}
					if audio, ok := audioBuffered(metricsURL); ok && rss-rss0-audio > peakBeyond.Load() {
						peakBeyond.Store(rss - rss0 - audio)
						audioAtPeak.Store(audio)
					}
				}
			}
		}()
	}
	start := time.Now()
	for i := range r.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := false
			defer func() {
				if !sent {
					sending.Done()
				}
			}()
			time.Sleep(r.startAfter(i))
			h := http.Header{}
			if t := token(i); t != "" {
				h.Set("Authorization", "Bearer "+t)
			}
			d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
			q := listenQuery(16000, fmt.Sprintf("load-%d", i), map[string]string{"interim_results": strconv.FormatBool(r.interim)})
			c, _, err := d.DialContext(ctx, base+"/v1/listen?"+q, h)
			if err != nil {
				errs.Add(1)
				return
			}
			defer c.Close()
			held.Add(1)
			clip := r.clips[i%len(r.clips)]
			var smu sync.Mutex
			var sendTimes []time.Time // by frame index
			frameAt := func(sec float64) (time.Time, bool) {
				idx := int(sec/loadPeriod.Seconds() - 1e-6)
				smu.Lock()
				defer smu.Unlock()
				if idx < 0 || idx >= len(sendTimes) {
					return time.Time{}, false
				}
				return sendTimes[idx], true
			}
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				var dur, intr []time.Duration
				seenDurable := false
				defer func() {
					mu.Lock()
					res.durable = append(res.durable, dur...)
					res.interim = append(res.interim, intr...)
					res.durableSeen = res.durableSeen || seenDurable
					mu.Unlock()
				}()
				readGateway(c, func(m gatewayMessage, now time.Time) {
					switch {
					case m.Type == "Results" && !m.IsFinal:
						if at, ok := frameAt(m.Start + m.Duration); ok {
							intr = append(intr, now.Sub(at))
						}
					case m.Type == "Durable":
						seenDurable = true
						if at, ok := frameAt(m.Seconds); ok {
							dur = append(dur, now.Sub(at))
						}
					}
				})
			}()
			frames := int(r.duration / loadPeriod)
			tick := time.NewTicker(loadPeriod)
			for f := 0; f < frames; f++ {
				smu.Lock()
				sendTimes = append(sendTimes, time.Now())
				smu.Unlock()
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := c.WriteMessage(websocket.BinaryMessage, clipFrame(clip, f)); err != nil {
					errs.Add(1)
					break
				}
				audio.Add(1)
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
			}
			tick.Stop()
			sent = true
			sending.Done()
			<-streamC // measure CPU over streaming only, then close together
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"CloseStream"}`))
			select {
			case <-readDone:
			case <-time.After(60 * time.Second):
				c.Close()
				<-readDone
			}
		}()
	}
	<-streamC
	elapsed := time.Since(start)
	if pid != nil {
		if cpu1, _, err := procStats(*pid); err == nil {
			res.cpuSeconds = (cpu1 - cpu0).Seconds()
		}
	}
	wg.Wait()
	res.held = int(held.Load())
	res.errors = int(errs.Load())
	res.audioSeconds = float64(audio.Load()) / 10
	<-sampled
	if pid != nil && res.held > 0 && peakRSS.Load() > 0 {
		res.rssPerSession = float64(peakRSS.Load()-rss0) / float64(res.held)
	}
	if res.held > 0 && peakBeyond.Load() >= 0 {
		res.beyondAudio = float64(peakBeyond.Load()) / float64(res.held)
		res.audioPerSession = float64(audioAtPeak.Load()) / float64(res.held)
	}
	_ = elapsed
	return res
}

// audioBuffered reads scribegate_audio_buffered_bytes from the gateway's
// metrics; ok is false when there is no such metric (the baseline).
func audioBuffered(url string) (int64, bool) {
	const name = "scribegate_audio_buffered_bytes"
	for _, sample := range metricSamples(context.Background(), url, name, 2*time.Second) {
		if v, ok := strings.CutPrefix(sample, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err == nil
		}
	}
	return 0, false
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// msAt is percentile p of d in milliseconds, as the tables show it ("N/A"
// with no observations).
func msAt(d []time.Duration, p float64) string {
	if len(d) == 0 {
		return "N/A"
	}
	return fmt.Sprintf("%.1f ms", float64(percentile(d, p).Microseconds())/1000)
}

// printLoadTable prints the rows; "vs baseline" is a row's audio seconds
// per CPU-second over the bare server's in the same run (over all its
// rows: the audio of each over the CPU of each), the ratio issue 3 sets a
// goal for. A bare server's own row says how far it strayed from that.
func printLoadTable(w io.Writer, rows []loadResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tsessions\theld\terrors\taudio s\tserver CPU s\taudio s / CPU s\tvs baseline\tDurable p50\tDurable p99\tinterim p50\tinterim p99\tmemory / session\taudio held / session\tmemory / session beyond audio\t")
	rateOf := func(r loadResult) float64 {
		if r.cpuSeconds <= 0 {
			return 0
		}
		return r.audioSeconds / r.cpuSeconds
	}
	var base, bareAudio, bareCPU float64
	for _, r := range rows {
		if r.baseline && r.cpuSeconds > 0 {
			bareAudio += r.audioSeconds
			bareCPU += r.cpuSeconds
		}
	}
	if bareCPU > 0 {
		base = bareAudio / bareCPU
	}
	for _, r := range rows {
		rate, vs, cpu, mem, audio, beyond := "N/A", "N/A", "N/A", "N/A", "N/A", "N/A"
		if r.beyondAudio >= 0 {
			audio = fmt.Sprintf("%.0f KiB", r.audioPerSession/1024)
			beyond = fmt.Sprintf("%.0f KiB", r.beyondAudio/1024)
		}
		if r.cpuSeconds > 0 {
			cpu = fmt.Sprintf("%.1f", r.cpuSeconds)
			rate = fmt.Sprintf("%.0f", rateOf(r))
			if base > 0 {
				vs = fmt.Sprintf("%.2f", rateOf(r)/base)
			}
		}
		if r.rssPerSession >= 0 {
			mem = fmt.Sprintf("%.0f KiB", r.rssPerSession/1024)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.name, r.sessions, r.held, r.errors, r.audioSeconds,
			cpu, rate, vs, msAt(r.durable, 0.5), msAt(r.durable, 0.99), msAt(r.interim, 0.5), msAt(r.interim, 0.99), mem, audio, beyond)
	}
	tw.Flush()
}
