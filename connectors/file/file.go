// Package file is the connector of kind "file": it writes each approved note
// as a FHIR R4 DocumentReference (and its Provenance) into a folder, one
// JSON file per document. It is the default target of a local run — nothing
// to install — and the shape of a file-drop integration, where another
// program (a secure-messaging client, an interface engine) picks documents
// up from a folder.
//
// Settings:
//
//	dir: ./var/outbox   # required; created if missing
//	identifier_system: urn:scribegate:note
//	html: false
//
// Files are named for the document identifier ("<note>-v<version>"):
// <identifier>.DocumentReference.json and <identifier>.Provenance.json. A
// document is created atomically (atomicfile.Create), which fails if the
// name exists: a reader never sees half a file, and a second push of the
// same version files nothing (Receipt.Duplicate).
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/internal/atomicfile"
)

// Kind is the name the connector registers under.
const Kind = "file"

func init() { connectors.Register(Kind, Open) }

// Settings are the instance settings.
type Settings struct {
	Dir              string `json:"dir" yaml:"dir"`
	IdentifierSystem string `json:"identifier_system" yaml:"identifier_system"`
	HTML             bool   `json:"html" yaml:"html"`
}

// Connector writes documents into one folder.
type Connector struct {
	dir     string
	profile fhirdoc.Profile
	log     *slog.Logger
}

// Open is the connector's Factory.
func Open(ctx context.Context, c connectors.Config) (connectors.Connector, error) {
	var s Settings
	if err := c.Decode(&s); err != nil {
		return nil, fmt.Errorf("file: settings: %w", err)
	}
	return New(s, c.Logger)
}

// New builds a connector writing into s.Dir, creating it if needed.
func New(s Settings, log *slog.Logger) (*Connector, error) {
	if s.Dir == "" {
		return nil, errors.New("file: dir is required")
	}
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Connector{dir: s.Dir, profile: fhirdoc.Profile{NoteSystem: s.IdentifierSystem, HTML: s.HTML}, log: log}, nil
}

// Path is where the document with identifier value ident is (or would be)
// written.
func (c *Connector) Path(ident, resourceType string) string {
	return filepath.Join(c.dir, connectors.FileName(ident)+"."+resourceType+".json")
}

// fileMode is the mode of the files written: they carry patient data, so
// only the gateway's user may read them.
const fileMode = 0o600

// Push writes d's Provenance, then its DocumentReference, unless the
// DocumentReference is already there.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Receipt{}, &connectors.PushError{Message: "push cancelled", Err: err}
	}
	dr, err := fhirdoc.BuildDocumentReference(d, c.profile)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	ident := connectors.Identifier(d.NoteID, d.Version)
	docPath := c.Path(ident, "DocumentReference")
	// The receipt names the document by its file name in the folder, as
	// an EHR names it by its id: a server path means nothing to the
	// clinician who sees it, and tells them about the server.
	rc := connectors.Receipt{ExternalID: filepath.Base(docPath)}
	if _, err := os.Stat(docPath); err == nil {
		rc.Duplicate = true
		return rc, nil
	}
	if d.ReplacesExternalID != "" {
		// Relative references only mean something on a FHIR server; here
		// the replaced document is named by its identifier.
		d2 := *d
		d2.ReplacesExternalID = ""
		if d2.Replaces == "" {
			d2.Replaces = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(d.ReplacesExternalID), ".json"), ".DocumentReference")
		}
		if dr, err = fhirdoc.BuildDocumentReference(&d2, c.profile); err != nil {
			return connectors.Receipt{}, connectors.Permanent(err)
		}
	}
	prov, err := fhirdoc.BuildProvenance(d, fhirdoc.DocumentTarget("", d, c.profile), c.profile)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	provJSON, err := fhirdoc.Marshal(prov)
	if err != nil {
		return connectors.Receipt{}, &connectors.PushError{Permanent: true, Message: "cannot encode the provenance", Err: err}
	}
	docJSON, err := fhirdoc.Marshal(dr)
	if err != nil {
		return connectors.Receipt{}, &connectors.PushError{Permanent: true, Message: "cannot encode the document", Err: err}
	}
	// Provenance first: the document's appearance is the commit point, and
	// a reader that sees it finds its Provenance beside it.
	if err := atomicfile.WriteFile(c.Path(ident, "Provenance"), provJSON, fileMode); err != nil {
		return connectors.Receipt{}, pushErr(err)
	}
	if err := atomicfile.Create("", docPath, docJSON, fileMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			rc.Duplicate = true
			return rc, nil
		}
		return connectors.Receipt{}, pushErr(err)
	}
	c.log.InfoContext(ctx, "file: document written", "note", d.NoteID, "version", d.Version, "path", docPath)
	return rc, nil
}

// pushErr classifies a file system failure: transient (a full disk or a
// briefly unmounted share may recover), the path in the message.
func pushErr(err error) error {
	return &connectors.PushError{Message: "cannot write the document: " + err.Error(), Err: err}
}

// Check makes sure the folder takes files. It leaves nothing behind.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	tmp, err := os.CreateTemp(c.dir, ".check-*")
	if err != nil {
		return []connectors.CheckResult{{Name: "folder writable", Detail: err.Error()}}
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return []connectors.CheckResult{{Name: "folder writable", OK: true, Detail: c.dir}}
}
