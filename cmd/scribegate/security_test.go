package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/file"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription/notes"
)

// twoClinics routes clinic-a and clinic-b to their own folders.
const twoClinics = `
data_dir: "{{DATA}}"
connectors:
  default: files-a
  clinics: {clinic-a: files-a, clinic-b: files-b}
  instances:
    files-a: {kind: file, dir: "{{DATA}}/a"}
    files-b: {kind: file, dir: "{{DATA}}/b"}
`

// TestNoCrossClinicFiling: a clinic-a session that names clinic-b's
// connector is refused before it records, and a clinic-a note that names
// it anyway (recorded before routes changed) is never filed there.
func TestNoCrossClinicFiling(t *testing.T) {
	g := startGateway(t, twoClinics)
	clin := g.token(t, "dr-a", "clinic-a", review.RoleClinician)
	var e apiError
	if st := g.call(t, "GET", "/v1/listen?patient=p-1&connector=files-b", clin, nil, &e); st != http.StatusBadRequest || e.Error.Code != "unknown_connector" {
		t.Fatalf("naming another clinic's connector: %d %+v", st, e)
	}
	if st := g.call(t, "GET", "/v1/listen?patient=p-1&connector=files-a", clin, nil, &e); e.Error.Code == "unknown_connector" {
		t.Fatalf("naming the clinic's own connector: %d %+v", st, e)
	}

	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	conns := map[string]connectors.Connector{}
	for name, dir := range map[string]string{"files-a": dirA, "files-b": dirB} {
		c, err := file.New(file.Settings{Dir: dir}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		conns[name] = c
	}
	tpls, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	p := &connectorPusher{conns: conns, templates: tpls, route: g.cfg.Connectors.route}
	note := func(clinic, conn string) *review.Note {
		return &review.Note{ID: "n-" + clinic, Clinic: clinic, Clinician: "dr", Patient: "p-1", Template: "soap",
			Connector: conn, State: review.StatePushing, Version: 1, ApprovedVersion: 1, ApprovedBy: "dr",
			ApprovedAt: time.Now(), CreatedAt: time.Now(),
			Draft: notes.Draft{Sections: []notes.Section{{ID: "plan", Title: "Plan", Sentences: []notes.Sentence{{Text: "Rest."}}}}}}
	}
	if _, err := p.Push(context.Background(), note("clinic-a", "files-b")); !review.IsPermanent(err) {
		t.Errorf("push of a clinic-a note to files-b: %v, want a permanent error", err)
	}
	if got := filesIn(t, dirB); len(got) != 0 {
		t.Errorf("clinic-b's folder holds %v", got)
	}
	if _, err := p.Push(context.Background(), note("clinic-b", "files-b")); err != nil {
		t.Fatalf("push of a clinic-b note to files-b: %v", err)
	}
	if got := filesIn(t, dirB); len(got) == 0 {
		t.Error("clinic-b's own note was not filed")
	}
}

func filesIn(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, fmt.Sprint(e.Name()))
	}
	return out
}
