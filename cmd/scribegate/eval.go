package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scribegate/scribegate/transcription/notes"
	"github.com/scribegate/scribegate/transcription/notes/eval"
)

// runEval is the "eval" subcommand: it drafts every ACI-Bench encounter of
// a split with the offline rule drafter and the naive baseline, checks the
// drafts, and prints one table of ROUGE, flagged sentences and note length,
// so a change to the drafter is judged by numbers; then the support check's
// seeded-error table (eval.RunSeeded).
func runEval(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", defaultACIBench(), "an ACI-Bench-format CSV file, or a directory with train.csv and valid.csv (env SCRIBEGATE_ACI_BENCH)")
	split := fs.String("split", "valid", "split to evaluate when -data is a directory: valid or train")
	tplID := fs.String("template", notes.TemplateSOAP, "template to draft with")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("eval: %w (usage: scribegate eval [-data FILE.csv|DIR] [-split valid|train] [-template ID])", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("eval: unexpected arguments %q", fs.Args())
	}
	if *data == "" {
		return errors.New("eval: no ACI-Bench directory: pass -data DIR or set SCRIBEGATE_ACI_BENCH")
	}
	ts, err := notes.NewTemplates(true, "", notes.Defaults{})
	if err != nil {
		return err
	}
	t, err := ts.Get(*tplID)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	enc, label, err := loadEncounters(*data, *split)
	if err != nil {
		return err
	}
	res, err := eval.Run(ctx, enc, t, []eval.System{
		{Name: notes.RuleDrafterName, Drafter: notes.RuleDrafter{}},
		{Name: notes.RuleDrafterName + " (no speakers)", Drafter: notes.RuleDrafter{}, StripSpeakers: true},
		{Name: "baseline (clinician turns)", Drafter: eval.Baseline{}, Unsectioned: true},
	})
	if err != nil {
		return err
	}
	if err := eval.WriteTable(stdout, label, res); err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, "\n"); err != nil {
		return err
	}
	if err := eval.WriteQuality(stdout, res); err != nil {
		return err
	}
	seeded, seededLabel, err := seededEncounters(*data, enc, label)
	if err != nil {
		return err
	}
	sr, err := eval.RunSeeded(ctx, seeded, t, notes.RuleDrafter{})
	if err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, "\n"); err != nil {
		return err
	}
	return eval.WriteSeededTable(stdout, seededLabel, sr)
}

// seededEncounters are the encounters the support check's seeded errors are
// planted in: a CSV file's own, or in a corpus directory both splits we
// may tune on (train and valid; never the held-out test splits).
func seededEncounters(data string, enc []eval.Encounter, label string) ([]eval.Encounter, string, error) {
	if fi, err := os.Stat(data); err != nil || !fi.IsDir() {
		return enc, label, nil
	}
	var all []eval.Encounter
	var names []string
	for _, sp := range []string{"train", "valid"} {
		e, err := eval.LoadSplit(data, sp)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		all = append(all, e...)
		names = append(names, sp)
	}
	return all, strings.Join(names, "+"), nil
}

// loadEncounters reads the encounters -data names: a CSV file in
// ACI-Bench's format (any split, or a clinic's own consultations), or a
// corpus directory and the split in it. label names them in the table.
func loadEncounters(data, split string) ([]eval.Encounter, string, error) {
	fi, err := os.Stat(data)
	if err != nil {
		return nil, "", fmt.Errorf("eval: %w", err)
	}
	if fi.IsDir() {
		enc, err := eval.LoadSplit(data, split)
		return enc, split, err
	}
	f, err := os.Open(data)
	if err != nil {
		return nil, "", fmt.Errorf("eval: %w", err)
	}
	defer f.Close()
	enc, err := eval.Load(f)
	if err != nil {
		return nil, "", fmt.Errorf("eval: %s: %w", data, err)
	}
	return enc, strings.TrimSuffix(filepath.Base(data), filepath.Ext(data)), nil
}

// defaultACIBench is $SCRIBEGATE_ACI_BENCH, else ../shared/corpus/aci-bench
// beside the repository the command runs in (found by its go.mod), else "".
func defaultACIBench() string {
	if d := os.Getenv("SCRIBEGATE_ACI_BENCH"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "corpus", "aci-bench")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
