package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/scribegate/scribegate/connectors"
)

// errChecksFailed is returned by printCheckTable when any check failed, so
// `scribegate connectors check` exits non-zero and can gate a deployment.
var errChecksFailed = errors.New("connector checks failed")

// printCheckTable runs every connector's checks (connectors.Checker) and
// prints one row per check: instance, check, result and detail. Instances
// are checked in name order, one after another, so the table reads the
// same on every run. A connector without checks gets a single "no checks"
// row and does not fail the run.
func printCheckTable(ctx context.Context, conns map[string]connectors.Connector, w io.Writer) error {
	names := make([]string, 0, len(conns))
	for name := range conns {
		names = append(names, name)
	}
	slices.Sort(names)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tCHECK\tRESULT\tDETAIL")
	failed := 0
	for _, name := range names {
		checker, ok := conns[name].(connectors.Checker)
		if !ok {
			fmt.Fprintf(tw, "%s\t-\tno checks\t\n", name)
			continue
		}
		results := checker.Check(ctx)
		if len(results) == 0 {
			fmt.Fprintf(tw, "%s\t-\tno checks\t\n", name)
			continue
		}
		for _, r := range results {
			result := "ok"
			if !r.OK {
				result = "FAIL"
				failed++
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, oneLine(r.Name), result, oneLine(r.Detail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d failing", errChecksFailed, failed)
	}
	return nil
}

// oneLine keeps a detail (often an EHR's error message) from breaking the
// table.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// unopened stands in the check table for an instance that could not be
// opened (a misspelt key, a missing secret): its one check, "open", fails
// with the reason, and the other instances are still checked.
type unopened struct{ err error }

func (u unopened) Push(context.Context, *connectors.Document) (connectors.Receipt, error) {
	return connectors.Receipt{}, &connectors.PushError{Permanent: true, Message: "connector not open: " + u.err.Error(), Err: u.err}
}

func (u unopened) Check(context.Context) []connectors.CheckResult {
	return []connectors.CheckResult{{Name: "open", Detail: u.err.Error()}}
}
