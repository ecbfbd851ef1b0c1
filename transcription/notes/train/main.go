// Command train rebuilds the offline drafter's embedded models — the
// sentence-boundary model for unpunctuated speech and the section
// classifier — from ACI-Bench's train split, and writes them to
// transcription/notes/model. Run it from the repository root:
//
//	go run ./transcription/notes/train [-data ../shared/corpus/aci-bench]
//
// It reads train.csv only: the valid split measures the drafter
// (scribegate eval), and the challenge test splits are never read.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scribegate/scribegate/transcription/notes/eval"
)

func main() {
	data := flag.String("data", filepath.Join("..", "shared", "corpus", "aci-bench"), "ACI-Bench directory holding train.csv")
	out := flag.String("out", filepath.Join("transcription", "notes", "model"), "directory the models are written to")
	flag.Parse()
	if err := run(*data, *out); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(data, out string) error {
	enc, err := eval.LoadSplit(data, "train")
	if err != nil {
		return err
	}
	boundary, sections := eval.TrainModels(enc)
	for name, text := range map[string]string{"boundary.tsv": boundary, "sections.tsv": sections} {
		if err := os.WriteFile(filepath.Join(out, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("trained on %d consultations of %s/train.csv; models written to %s\n", len(enc), data, out)
	return nil
}
