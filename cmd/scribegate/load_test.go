package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scribegate/scribegate/transcription"
)

func TestLoadLoopbackOnly(t *testing.T) {
	for u, ok := range map[string]bool{
		"ws://127.0.0.1:8080": true, "ws://localhost:1": true, "ws://[::1]:9/v1": true,
		"ws://10.0.0.1:8080": false, "wss://example.com": false, "ws://192.168.1.2": false,
	} {
		if err := loopbackOnly(u); (err == nil) != ok {
			t.Errorf("loopbackOnly(%q) = %v", u, err)
		}
	}
}

func TestLoadProcStatsAndPercentile(t *testing.T) {
	_, rss, err := procStats(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("procStats of self: rss %d, %v", rss, err)
	}
	d := []time.Duration{5, 1, 4, 2, 3}
	if p := percentile(d, 0.5); p != 3 {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(d, 0.99); p != 5 {
		t.Errorf("p99 %v", p)
	}
}

// TestLoadAudioBuffered reads the gateway's audio metric from a
// Prometheus handler serving it among others (asking for it alone), and
// reports a server without it (the baseline) as unknown.
func TestLoadAudioBuffered(t *testing.T) {
	reg := prometheus.NewRegistry()
	audio := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scribegate_audio_buffered_bytes", Help: "x"})
	audio.Set(25165824)
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "scribegate_sessions_active", Help: "y"})
	other.Set(3)
	reg.MustRegister(audio, other, collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if n, ok := audioBuffered(srv.URL + "/metrics"); !ok || n != 25165824 {
		t.Errorf("audioBuffered = %d, %v; want 25165824", n, ok)
	}
	if _, ok := audioBuffered(srv.URL + "/nothing"); ok {
		t.Error("a server without the metric was read as having it")
	}
}

// TestLoadTableRatio: a row's ingest is given as a share of the bare
// server's in the same run (over both its runs when there are two), and
// as unknown when there is no baseline.
func TestLoadTableRatio(t *testing.T) {
	gw := loadResult{name: "gateway", sessions: 10, held: 10, audioSeconds: 1000, cpuSeconds: 2, rssPerSession: -1, beyondAudio: -1}
	bare := loadResult{name: "bare", baseline: true, sessions: 10, held: 10, audioSeconds: 1000, cpuSeconds: 0.8, rssPerSession: -1, beyondAudio: -1}
	for _, c := range []struct {
		rows []loadResult
		want []string // the "vs baseline" column, by row
	}{
		{[]loadResult{gw, bare}, []string{"0.40", "1.00"}},
		{[]loadResult{gw}, []string{"N/A"}},
		// Before and after: 2,000 audio s in 2 CPU s, so the gateway's 500
		// a second is half; the faster run's own rate is 1.25 of that.
		{[]loadResult{gw, bare, withCPU(bare, 1.2)}, []string{"0.50", "1.25", "0.83"}},
	} {
		var b strings.Builder
		printLoadTable(&b, c.rows)
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		for i, want := range c.want {
			f := strings.Fields(lines[i+1])
			// name, sessions, held, errors, audio s, CPU s, rate, vs baseline
			if got := f[7]; got != want {
				t.Errorf("row %q: vs baseline %q, want %q\n%s", c.rows[i].name, got, want, b.String())
			}
		}
	}
}

func withCPU(r loadResult, cpu float64) loadResult {
	r.cpuSeconds = cpu
	return r
}

// TestLoadStartsSpreadFrames: the sessions' frames, one per 100 ms each,
// fall evenly over the frame period, as real clients' do, rather than in
// a few bursts; and the starts still cover the ramp.
func TestLoadStartsSpreadFrames(t *testing.T) {
	for _, tc := range []struct {
		sessions int
		ramp     time.Duration
	}{
		{100, 5 * time.Second},
		{1000, 10 * time.Second},
		{500, 10 * time.Second},
	} {
		r := loadRun{sessions: tc.sessions, ramp: tc.ramp}
		perPhase := map[time.Duration]int{}
		var last time.Duration
		for i := range tc.sessions {
			at := r.startAfter(i)
			if at < 0 || at >= tc.ramp+100*time.Millisecond {
				t.Fatalf("%d sessions over %v: session %d starts at %v", tc.sessions, tc.ramp, i, at)
			}
			last = max(last, at)
			perPhase[at%(100*time.Millisecond)]++
		}
		if last < tc.ramp-tc.ramp/10 {
			t.Errorf("%d sessions over %v: the last starts at %v", tc.sessions, tc.ramp, last)
		}
		if want := min(tc.sessions, 100); len(perPhase) != want {
			t.Errorf("%d sessions over %v: frames at %d moments of the 100 ms period, want %d", tc.sessions, tc.ramp, len(perPhase), want)
		}
		for phase, n := range perPhase {
			if n > tc.sessions/100+1 {
				t.Errorf("%d sessions over %v: %d frames at once (at %v in the period)", tc.sessions, tc.ramp, n, phase)
			}
		}
	}
	if at := (loadRun{sessions: 10}).startAfter(7); at != 0 {
		t.Errorf("no ramp: session starts after %v, want at once", at)
	}
}

// TestLoadClipsRejectsClipsShorterThanAFrame checks that loadClips refuses,
// naming it, a 16 kHz mono clip with no whole frame for clipFrame to send,
// and takes one of exactly a frame.
func TestLoadClipsRejectsClipsShorterThanAFrame(t *testing.T) {
	wav := func(rate, samples int) *fstest.MapFile {
		return &fstest.MapFile{Data: transcription.EncodeWAV(make([]int16, samples), rate)}
	}
	for _, tc := range []struct {
		name      string
		files     fstest.MapFS
		wantErr   string // a file the error names; "" for none
		wantClips int
	}{
		{name: "one frame", files: fstest.MapFS{"one.wav": wav(16000, loadFrame/2)}, wantClips: 1},
		{name: "a byte short", files: fstest.MapFS{"long.wav": wav(16000, 16000), "short.wav": wav(16000, loadFrame/2-1)}, wantErr: "short.wav"},
		{name: "no audio", files: fstest.MapFS{"empty.wav": wav(16000, 0)}, wantErr: "empty.wav"},
		{name: "short clip at another rate is skipped", files: fstest.MapFS{"one.wav": wav(16000, loadFrame/2), "8k.wav": wav(8000, 10)}, wantClips: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clips, err := loadClips(tc.files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("loadClips = %d clips, %v; want an error naming %s", len(clips), err, tc.wantErr)
				}
				return
			}
			if err != nil || len(clips) != tc.wantClips {
				t.Fatalf("loadClips = %d clips, %v; want %d", len(clips), err, tc.wantClips)
			}
			for _, c := range clips {
				if f := clipFrame(c, 7); len(f) != loadFrame {
					t.Fatalf("clipFrame = %d bytes, want %d", len(f), loadFrame)
				}
			}
		})
	}
}
