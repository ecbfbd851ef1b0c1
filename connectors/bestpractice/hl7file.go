package bestpractice

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/internal/atomicfile"
)

// hl7File files notes by dropping HL7 v2.4 messages into the folder Bp
// Premier's inbox imports from, the way secure-messaging providers deliver
// correspondence.
type hl7File struct {
	inbox   string
	ledger  string
	staging string      // temporary files, on the inbox's file system
	mode    os.FileMode // of delivered files
	header  hl7Header
	loc     *time.Location
	now     func() time.Time
	log     *slog.Logger
}

// fileName is the inbox file name for a note identifier (made safe by
// connectors.FileName, so a note id can never name a path outside the
// inbox).
func fileName(id string) string {
	return "scribegate-" + connectors.FileName(id) + ".hl7"
}

// push writes the message atomically and at most once per note identifier:
//
//  1. If the ledger (a folder the importer never reads) already records the
//     identifier, the note was delivered before: Duplicate.
//  2. The message is written to a temporary file in the staging folder,
//     outside the inbox the importer watches, given the delivered mode
//     (0640 by default, so the importing service can read it), synced, and
//     hard-linked into the inbox under its final name. A link fails if the
//     name exists, so two concurrent pushes of one note cannot both
//     deliver it, and the importer never sees a half-written file.
//  3. The ledger records the identifier (with a copy of the message) so a
//     retry after the importer has consumed the file is still recognised.
//
// A crash between 2 and 3 leaves the delivered file in the inbox; a retry
// finds it there (Duplicate) unless the importer consumed it first, in
// which case the note is delivered twice: the one window that remains, and
// the safer side of it (nothing is lost).
func (t *hl7File) push(ctx context.Context, d *connectors.Document, patient, author auident.Ref) (connectors.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Receipt{}, &connectors.PushError{Err: err}
	}
	id := connectors.Identifier(d.NoteID, d.Version)
	name := fileName(id)
	final := filepath.Join(t.inbox, name)
	mark := filepath.Join(t.ledger, name)
	if _, err := os.Stat(mark); err == nil {
		return connectors.Receipt{ExternalID: final, Duplicate: true}, nil
	}
	msg := buildORU(d, patient, author, t.header, t.loc, t.now()).String()
	err := atomicfile.Create(t.staging, final, []byte(msg), t.mode)
	dup := errors.Is(err, fs.ErrExist)
	if err != nil && !dup {
		return connectors.Receipt{}, &connectors.PushError{Message: "cannot write to the Bp Premier inbox folder", Err: err}
	}
	if err := atomicfile.Create("", mark, []byte(msg), 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		// Delivered but not recorded: report success (the note is in the
		// inbox) and tell the operator; only a resend after import could
		// duplicate it.
		t.log.ErrorContext(ctx, "bestpractice: delivered but could not record in ledger", "note", d.NoteID, "version", d.Version, "err", err)
		return connectors.Receipt{ExternalID: final, Duplicate: dup}, nil
	}
	return connectors.Receipt{ExternalID: final, Duplicate: dup}, nil
}

// check verifies both folders exist and are writable, by creating and
// removing a probe file; nothing the importer would pick up.
func (t *hl7File) check() []connectors.CheckResult {
	var out []connectors.CheckResult
	for _, c := range []struct{ name, dir string }{{"inbox folder writable", t.inbox}, {"staging folder writable", t.staging}, {"ledger folder writable", t.ledger}} {
		r := connectors.CheckResult{Name: c.name, OK: true, Detail: c.dir}
		f, err := os.CreateTemp(c.dir, ".scribegate-check-*.tmp")
		if err != nil {
			r.OK, r.Detail = false, err.Error()
		} else {
			f.Close()
			os.Remove(f.Name())
		}
		out = append(out, r)
	}
	return out
}

func ensureDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder", dir)
	}
	return nil
}
