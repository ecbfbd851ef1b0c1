package sqlitestore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore"
	"github.com/scribegate/scribegate/transcription/notes"
)

// transcriptStats is what a store that commits appends in groups tells a
// benchmark: how many transactions it committed and how many appends they
// held (export_test.go). It is asserted, not called, so the benchmark
// also runs on a build from before groups, for a comparison.
type transcriptStats interface {
	TranscriptStats() (txs, appends int64)
}

// recordingStore opens a store with n notes being recorded, r0 … r{n-1}.
func recordingStore(b *testing.B, n int) *sqlitestore.Store {
	b.Helper()
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(b.TempDir(), "review.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	at := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	ns := make([]*review.Note, n)
	for i := range ns {
		ns[i] = &review.Note{ID: fmt.Sprintf("r%d", i), Clinic: "c1", Clinician: "dr-a", Patient: "p1",
			State: review.StateRecording, CreatedAt: at, UpdatedAt: at}
	}
	if err := s.ImportNotes(ctx, ns); err != nil {
		b.Fatal(err)
	}
	return s
}

// utterance is a final utterance of about the size a session stores.
func utterance(i int) []notes.Utterance {
	return []notes.Utterance{{Index: i, Speaker: "clinician", Start: time.Duration(i) * time.Second, End: time.Duration(i+1) * time.Second,
		Text: "and how long have you had the cough, is it worse at night or in the morning"}}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the figures a transcript benchmark is judged by: CPU time
// per append (the gateway's cost, which ns/op of a paced run is not),
// appends per transaction when the store says, and the p50 and p99 time
// a caller waited.
func report(b *testing.B, s *sqlitestore.Store, cpu0 time.Duration, tx0, ap0 int64, waits []time.Duration) {
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
	if st, ok := any(s).(transcriptStats); ok {
		txs, appends := st.TranscriptStats()
		if txs > tx0 {
			b.ReportMetric(float64(appends-ap0)/float64(txs-tx0), "appends/tx")
		}
	}
	if len(waits) > 0 {
		slices.Sort(waits)
		b.ReportMetric(float64(waits[len(waits)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds()), "p99-µs")
	}
}

func stats(s *sqlitestore.Store) (txs, appends int64) {
	if st, ok := any(s).(transcriptStats); ok {
		return st.TranscriptStats()
	}
	return 0, 0
}

// BenchmarkAppendTranscript measures transcript appends from many
// sessions at once.
//
// Paced is the gateway's load: 1,000 sessions appending 250 times a
// second in all, at random times (a Poisson process), each session
// waiting for its append before its next. Its ns/op is the pacing (4 ms);
// cpu-ns/op is the cost. Run it with -benchtime=1000x or more.
//
// Parallel is every session appending as fast as it can: the most a
// store can take.
func BenchmarkAppendTranscript(b *testing.B) {
	const sessions = 1000
	// Idle is the pacing alone, no append made: the benchmark's own CPU
	// (timers, goroutines waking), to take from Paced250's.
	for _, bc := range []struct {
		name  string
		store bool
	}{{"Paced250", true}, {"Paced250Idle", false}} {
		b.Run(bc.name, func(b *testing.B) {
			paced(b, sessions, bc.store)
		})
	}
	b.Run("Parallel", func(b *testing.B) {
		s := recordingStore(b, sessions)
		ctx := context.Background()
		var next atomic.Int64
		tx0, ap0 := stats(s)
		cpu0 := cpuTime(b)
		b.SetParallelism(32) // 64 sessions on two cores
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			id := fmt.Sprintf("r%d", next.Add(1)%sessions)
			for i := 0; pb.Next(); i++ {
				if err := s.AppendTranscript(ctx, id, utterance(i), int64(i+1)*32000); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		report(b, s, cpu0, tx0, ap0, nil)
	})
}

// paced makes b.N appends at 250 a second in all from sessions sessions
// (or, store false, only waits for their times).
func paced(b *testing.B, sessions int, store bool) {
	const rate = 250.0 // appends a second, in all
	s := recordingStore(b, sessions)
	ctx := context.Background()
	// The appends' times, uniform over the run (a Poisson process of
	// b.N events), the k-th in time by session k%sessions, so each
	// session's appends are about 4 s apart.
	span := time.Duration(float64(b.N) / rate * float64(time.Second))
	rng := rand.New(rand.NewPCG(1, 2))
	at := make([]time.Duration, b.N)
	for i := range at {
		at[i] = time.Duration(rng.Int64N(int64(span) + 1))
	}
	slices.Sort(at)
	waits := make([]time.Duration, b.N)
	var failed atomic.Int64
	tx0, ap0 := stats(s)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for sn := range min(sessions, b.N) {
		wg.Go(func() {
			id := fmt.Sprintf("r%d", sn)
			for k := sn; k < b.N; k += sessions {
				if d := time.Until(start.Add(at[k])); d > 0 {
					time.Sleep(d)
				}
				if !store {
					continue
				}
				t0 := time.Now()
				if err := s.AppendTranscript(ctx, id, utterance(k), int64(k+1)*32000); err != nil {
					failed.Add(1)
				}
				waits[k] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d appends failed", n)
	}
	if !store {
		waits = nil
	}
	report(b, s, cpu0, tx0, ap0, waits)
}
