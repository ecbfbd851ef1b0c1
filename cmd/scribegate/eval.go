package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/scribegate/scribegate/transcription/notes"
	"github.com/scribegate/scribegate/transcription/notes/eval"
)

// runEval is the "eval" subcommand: it drafts every ACI-Bench encounter of
// a split with the offline rule drafter and the naive baseline, checks the
// drafts, and prints one table of ROUGE, flagged sentences and note length,
// so a change to the drafter is judged by numbers.
func runEval(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", defaultACIBench(), "ACI-Bench directory with train.csv and valid.csv (env SCRIBEGATE_ACI_BENCH)")
	split := fs.String("split", "valid", "split to evaluate: valid or train")
	tplID := fs.String("template", notes.TemplateSOAP, "template to draft with")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("eval: %w (usage: scribegate eval [-data DIR] [-split valid|train] [-template ID])", err)
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
	enc, err := eval.LoadSplit(*data, *split)
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
	return eval.WriteTable(stdout, *split, res)
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
