package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/note"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/transcription/notes"
)

// pushedSignal wraps the store to tell the benchmark the moment the worker
// records a note as pushed: the end of the gateway's part of a push.
type pushedSignal struct {
	review.Store
	pushed chan string
}

func (s *pushedSignal) UpdateNote(ctx context.Context, id string, fn func(*review.Note) (*review.Change, error)) (*review.Note, error) {
	n, err := s.Store.UpdateNote(ctx, id, fn)
	if err == nil && n.State == review.StatePushed {
		s.pushed <- id
	}
	return n, err
}

// timedEHR measures the EHR's own handling time, so the benchmark can
// subtract it and report what the gateway adds.
type timedEHR struct {
	h     http.Handler
	nanos atomic.Int64
}

func (e *timedEHR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	e.h.ServeHTTP(w, r)
	e.nanos.Add(int64(time.Since(start)))
}

type pushRig struct {
	svc    *review.Service
	worker *review.Worker
	sig    *pushedSignal
	ehr    *timedEHR
	actor  review.Actor
}

func newPushRig(b *testing.B, concurrency int) *pushRig {
	b.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(b)
	v, err := fhirtest.RepoSchema()
	if err != nil {
		b.Fatal(err)
	}
	ehr := &timedEHR{h: fhirtest.New(v)}
	srv := httptest.NewServer(ehr)
	b.Cleanup(srv.Close)

	var node yaml.Node
	if err := yaml.Unmarshal(fmt.Appendf(nil, "{kind: fhir, base_url: %q}", srv.URL), &node); err != nil {
		b.Fatal(err)
	}
	conn, err := connectors.Open(ctx, "fhir", connectors.Config{Name: "ehr", Decode: func(v any) error { return decodeStrict(*node.Content[0], v) }})
	if err != nil {
		b.Fatal(err)
	}
	templates, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		b.Fatal(err)
	}
	sig := &pushedSignal{Store: st, pushed: make(chan string, 1024)}
	quiet := slog.New(slog.DiscardHandler)
	w := review.NewWorker(sig, &connectorPusher{conns: map[string]connectors.Connector{"ehr": conn}, templates: templates, route: func(string) string { return "ehr" }},
		review.WorkerOptions{Concurrency: concurrency, Logger: quiet, PollInterval: time.Second})
	svc := review.NewService(sig, review.ServiceOptions{Logger: quiet, OnEnqueue: w.Kick})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	b.Cleanup(func() { cancel(); <-done })
	return &pushRig{svc: svc, worker: w, sig: sig, ehr: ehr,
		actor: review.Actor{Subject: "prac-1", Name: "Dr One", Clinic: "clinic-a", Role: review.RoleClinician}}
}

// pendingNote makes a note awaiting approval, as a finished session does.
func (r *pushRig) pendingNote(b *testing.B, i int) *review.Note { return pendingNote(b, r.svc, i) }

// pendingNote makes a note for connector "ehr" awaiting approval in svc.
func pendingNote(b testing.TB, svc *review.Service, i int) *review.Note {
	b.Helper()
	ctx := context.Background()
	n, err := svc.Create(ctx, &review.Note{
		Clinic: "clinic-a", Clinician: "prac-1", Patient: fmt.Sprintf("pat-%d", i), Encounter: fmt.Sprintf("enc-%d", i),
		Template: "soap", Connector: "ehr", State: review.StateRecording,
	})
	if err != nil {
		b.Fatal(err)
	}
	tr := []note.Line{{Index: 0, Text: "my right knee has hurt for two weeks"}}
	d := note.Draft{Template: "soap", Drafter: "rules", Sections: []note.Section{
		{ID: "subjective", Title: "Subjective", Sentences: []note.Sentence{{Text: "Right knee pain for 2 weeks.", Evidence: []int{0}}}},
	}}
	n, err = svc.SetDraft(ctx, n.ID, d, tr, review.StatePendingReview)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkPushLatency is one approval at a time: from the approval's
// return to the worker recording the note as pushed, less the EHR's own
// handling time — what the gateway adds to a push (claim, build, HTTP,
// settle). Goal: p99 under 5 ms.
func BenchmarkPushLatency(b *testing.B) {
	r := newPushRig(b, 1)
	ctx := context.Background()
	added := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		n := r.pendingNote(b, i)
		ehrBefore := r.ehr.nanos.Load()
		b.StartTimer()
		start := time.Now()
		if _, err := r.svc.Approve(ctx, r.actor, n.ID, n.Version); err != nil {
			b.Fatal(err)
		}
		for id := <-r.sig.pushed; id != n.ID; id = <-r.sig.pushed {
		}
		total := time.Since(start)
		added = append(added, total-time.Duration(r.ehr.nanos.Load()-ehrBefore))
	}
	b.StopTimer()
	slices.Sort(added)
	b.ReportMetric(float64(added[len(added)/2].Microseconds())/1000, "p50-added-ms")
	b.ReportMetric(float64(added[len(added)*99/100].Microseconds())/1000, "p99-added-ms")
}

// BenchmarkPushThroughput approves b.N notes at once and measures how fast
// four push workers file them (DocumentReference and Provenance each, the
// EHR validating both against the FHIR schema).
func BenchmarkPushThroughput(b *testing.B) {
	r := newPushRig(b, 4)
	ctx := context.Background()
	pending := make([]*review.Note, b.N)
	for i := range pending {
		pending[i] = r.pendingNote(b, i)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		for range b.N {
			<-r.sig.pushed
		}
	})
	for _, n := range pending {
		if _, err := r.svc.Approve(ctx, r.actor, n.ID, n.Version); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pushes/s")
}
