package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/review/sqlitestore/sqlitetest"
	"github.com/scribegate/scribegate/transcription/notes"
)

// TestEveryReplyLost: the EHR stores every write and the reply to every
// one is lost (the connection drops after the store). Through the push
// worker and the generic FHIR connector, each note still ends pushed, the
// EHR holds exactly one DocumentReference and one Provenance for it, and
// no note is ever push_failed: each attempt is judged by what the EHR
// holds, so lost replies cannot use up the attempts.
func TestEveryReplyLost(t *testing.T) {
	ctx := t.Context()
	st := sqlitetest.Open(t)
	ehr := fhirtest.NewServer(t)
	const lose = 1000
	ehr.Inject(fhirtest.Fault{Method: http.MethodPost, Drop: true}, lose)
	conn, err := connectors.Open(ctx, "fhir", connectortest.Config(t, "ehr", "kind: fhir\nbase_url: "+ehr.URL+"\ntimeout: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	templates, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	w := review.NewWorker(st, &connectorPusher{conns: map[string]connectors.Connector{"ehr": conn}, templates: templates, route: func(string) string { return "ehr" }},
		review.WorkerOptions{Concurrency: 2, Logger: quiet, PollInterval: 5 * time.Millisecond,
			BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	svc := review.NewService(st, review.ServiceOptions{Logger: quiet, OnEnqueue: w.Kick})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })

	actor := review.Actor{Subject: "prac-1", Name: "Dr One", Clinic: "clinic-a", Role: review.RoleClinician}
	const n = 6
	var ids []string
	for i := range n {
		note := pendingNote(t, svc, i)
		if _, err := svc.Approve(ctx, actor, note.ID, note.Version); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, note.ID)
	}

	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			note, err := st.GetNote(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if note.State == review.StatePushFailed {
				t.Fatalf("note %s push_failed: %s", id, note.PushError)
			}
			if note.State == review.StatePushed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("note %s still %s (last attempt %d)", id, note.State, note.PushAttempts)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if lost := lose - ehr.PendingFaults(); lost < 2*n {
		t.Fatalf("only %d replies lost for %d notes: the fault did not bite", lost, n)
	}
	provenances := map[string]int{}
	for _, raw := range ehr.Resources("Provenance") {
		var p struct{ Target []struct{ Reference string } }
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		for _, tg := range p.Target {
			provenances[tg.Reference]++
		}
	}
	for _, id := range ids {
		note, _ := st.GetNote(ctx, id)
		docs := ehr.Find("DocumentReference", fhirdoc.DefaultNoteSystem, connectors.Identifier(id, note.ApprovedVersion))
		if len(docs) != 1 {
			t.Errorf("note %s: %d DocumentReferences, want exactly 1", id, len(docs))
			continue
		}
		r, _ := fhirdoc.DecodeLenient(docs[0])
		if got := provenances["DocumentReference/"+r.ID]; got != 1 {
			t.Errorf("note %s (DocumentReference/%s): %d Provenances, want exactly 1", id, r.ID, got)
		}
		if note.ExternalID != "DocumentReference/"+r.ID {
			t.Errorf("note %s records %q, the EHR holds DocumentReference/%s", id, note.ExternalID, r.ID)
		}
	}
	if got, want := len(ehr.Resources("DocumentReference")), n; got != want {
		t.Errorf("EHR holds %d DocumentReferences, want %d", got, want)
	}
	if got := fmt.Sprint(len(ehr.Resources("Provenance"))); got != fmt.Sprint(n) {
		t.Errorf("EHR holds %s Provenances, want %d", got, n)
	}
}
