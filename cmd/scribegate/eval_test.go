package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunEval(t *testing.T) {
	// The sample fixture stands in for a split: two ACI-Bench encounters.
	dir := t.TempDir()
	sample, err := os.ReadFile("../../transcription/notes/testdata/aci-bench-sample.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "valid.csv"), sample, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runEval(context.Background(), []string{"-data", dir, "-split", "valid", "-template", "soap"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| rules | overall (valid, n=2)", "| rules (no speakers) | overall", "| baseline (clinician turns) | overall", "| rules | assessment_and_plan",
		"| seeded error in a drafted sentence (valid, n=2) |", "| false flags: harmless rewordings"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	t.Setenv("SCRIBEGATE_ACI_BENCH", dir)
	out.Reset()
	if err := runEval(context.Background(), []string{"-split", "valid"}, &out); err != nil || !strings.Contains(out.String(), "n=2") {
		t.Errorf("env default: err %v, output %q", err, out.String())
	}
	// A file in ACI-Bench's format is scored as it is, named by its file.
	out.Reset()
	file := filepath.Join(dir, "clinic.csv")
	if err := os.WriteFile(file, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runEval(context.Background(), []string{"-data", file}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| rules | overall (clinic, n=2)", "ROUGE-Lsum", "| rules | objective_results", "first-person sentences", "| paper: GPT-4 (zero-shot) | 0.518 | 0.226 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output for a file lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range [][]string{{"-split", "test"}, {"-template", "nope"}, {"-bogus"}, {"extra"}, {"-data", filepath.Join(dir, "missing.csv")}} {
		if err := runEval(context.Background(), append([]string{"-data", dir}, bad...), &out); err == nil {
			t.Errorf("runEval(%q) accepted", bad)
		}
	}
}
