package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/bestpractice"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/gentu"
	"github.com/scribegate/scribegate/connectors/gentu/gentutest"
)

// noChecks is a connector that does not implement connectors.Checker.
type noChecks struct{}

func (noChecks) Push(context.Context, *connectors.Document) (connectors.Receipt, error) {
	return connectors.Receipt{}, nil
}

func TestPrintCheckTable(t *testing.T) {
	ctx := context.Background()
	srv := gentutest.New(t)
	secret := connectortest.SecretFile(t, gentutest.ClientSecret)
	wrong := connectortest.SecretFile(t, "not-the-secret")
	gentuWith := func(file string) connectors.Connector {
		c, err := gentu.New(ctx, connectors.Config{Name: "g"}, srv.Settings(file))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	inbox := t.TempDir()
	bp, err := bestpractice.New(ctx, connectors.Config{Name: "bp"}, bestpractice.Settings{InboxDir: inbox})
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	err = printCheckTable(ctx, map[string]connectors.Connector{
		"gentu-good": gentuWith(secret),
		"bp-inbox":   bp,
		"plain":      noChecks{},
	}, &out)
	if err != nil {
		t.Fatalf("all passing: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	wantRows := []struct{ instance, check, result string }{
		{"INSTANCE", "CHECK", "RESULT"},
		{"bp-inbox", "inbox folder writable", "ok"},
		{"bp-inbox", "staging folder writable", "ok"},
		{"bp-inbox", "ledger folder writable", "ok"},
		{"gentu-good", "token", "ok"},
		{"gentu-good", "capabilities: DocumentReference create", "ok"},
		{"plain", "-", "no checks"},
	}
	if len(lines) != len(wantRows) {
		t.Fatalf("table has %d lines, want %d:\n%s", len(lines), len(wantRows), out.String())
	}
	for i, w := range wantRows {
		if !strings.HasPrefix(lines[i], w.instance) || !strings.Contains(lines[i], w.check) || !strings.Contains(lines[i], w.result) {
			t.Errorf("line %d = %q, want %s / %s / %s", i, lines[i], w.instance, w.check, w.result)
		}
	}

	out.Reset()
	err = printCheckTable(ctx, map[string]connectors.Connector{"gentu-bad": gentuWith(wrong)}, &out)
	if !errors.Is(err, errChecksFailed) {
		t.Errorf("failing check: err = %v, want errChecksFailed", err)
	}
	if !strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), "invalid_client") {
		t.Errorf("failing table does not show the failure and the EHR's reason:\n%s", out.String())
	}
	if strings.Contains(out.String(), "not-the-secret") {
		t.Error("the table leaks the secret")
	}
}

// TestCheckGoesOnPastAnInstanceThatCannotOpen: a misspelt key in one
// instance is a FAIL row for it, and the others are still checked.
func TestCheckGoesOnPastAnInstanceThatCannotOpen(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, "data_dir: "+filepath.Join(dir, "data")+"\nconnectors:\n  default: good\n  instances:\n"+
		"    bad: {kind: fhir, base_url: https://fhir.example/r4, tokn: x}\n"+
		"    good: {kind: file, dir: "+filepath.Join(dir, "out")+"}\n")
	var out, errs bytes.Buffer
	err := runCheck(context.Background(), []string{"-config", path}, &out, &errs)
	if !errors.Is(err, errChecksFailed) {
		t.Fatalf("runCheck = %v, want errChecksFailed\n%s%s", err, out.String(), errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("table:\n%s", out.String())
	}
	if f := strings.Fields(lines[1]); len(f) < 3 || f[0] != "bad" || f[1] != "open" || f[2] != "FAIL" || !strings.Contains(lines[1], "tokn") {
		t.Errorf("row for the instance that cannot open = %q, want bad / open / FAIL naming the key", lines[1])
	}
	if !strings.HasPrefix(lines[2], "good") || strings.Contains(lines[2], "FAIL") {
		t.Errorf("the good instance was not checked: %q", lines[2])
	}
}
