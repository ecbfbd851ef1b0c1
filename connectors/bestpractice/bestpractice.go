package bestpractice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // practices run in Australian zones; do not depend on the host's zoneinfo

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
)

// Kind is the connector kind name used in configuration.
const Kind = "bestpractice"

// Transports.
const (
	TransportFHIR    = "fhir"
	TransportHL7File = "hl7file"
)

// DefaultSubscriptionKeyHeader is the header Halo Cloud (Azure API
// Management) reads the integrator subscription key from.
const DefaultSubscriptionKeyHeader = "Ocp-Apim-Subscription-Key"

func init() { connectors.Register(Kind, Open) }

// Settings are an instance's configuration keys. Secrets are never inline:
// they are read from a file or an environment variable.
type Settings struct {
	// Transport is "hl7file" (the default: HL7 v2.4 messages into the
	// inbox import folder) or "fhir" (Halo Connect's FHIR API).
	Transport string `yaml:"transport"`

	// BaseURL is the site's Halo Cloud FHIR base, e.g.
	// https://api.haloconnect.io/integrator/sites/{halo-guid}/fhir/R4
	BaseURL string `yaml:"base_url"`
	// SubscriptionKeyFile / SubscriptionKeyEnv hold the Halo Cloud
	// integrator subscription key (one of them is required for fhir).
	SubscriptionKeyFile string `yaml:"subscription_key_file"`
	SubscriptionKeyEnv  string `yaml:"subscription_key_env"`
	// SubscriptionKeyHeader overrides DefaultSubscriptionKeyHeader.
	SubscriptionKeyHeader string `yaml:"subscription_key_header"`
	// Profiles are canonical URLs claimed in meta.profile (none by default:
	// AU Base 4.1.0 defines no DocumentReference profile).
	Profiles []string `yaml:"profiles"`
	// Timeout bounds one HTTP request (default 30s).
	Timeout time.Duration `yaml:"timeout"`

	// InboxDir is the folder Bp Premier imports HL7 messages from.
	InboxDir string `yaml:"inbox_dir"`
	// LedgerDir records delivered identifiers so a resend after import is
	// recognised; default is a ".scribegate-sent" folder beside InboxDir.
	LedgerDir string `yaml:"ledger_dir"`
	// SendingApplication / SendingFacility name us in MSH-3/4 (defaults
	// "SCRIBEGATE" and the instance name); ReceivingApplication /
	// ReceivingFacility name the practice in MSH-5/6 (default "BPS" and
	// empty).
	SendingApplication   string `yaml:"sending_application"`
	SendingFacility      string `yaml:"sending_facility"`
	ReceivingApplication string `yaml:"receiving_application"`
	ReceivingFacility    string `yaml:"receiving_facility"`
	// SendingFacilityID / ReceivingFacilityID identify the organisations
	// in MSH-4 / MSH-6 as HL7 Australia asks: an HPI-O (type AUSHIC, the
	// default for an HPI-O, whose check digit is validated) or the id the
	// secure-messaging directory publishes, with its type in
	// *_facility_id_type.
	SendingFacilityID       string `yaml:"sending_facility_id"`
	SendingFacilityIDType   string `yaml:"sending_facility_id_type"`
	ReceivingFacilityID     string `yaml:"receiving_facility_id"`
	ReceivingFacilityIDType string `yaml:"receiving_facility_id_type"`
	// StagingDir is where a message is written before it is linked into
	// the inbox, so the importer never sees a temporary file; it must be
	// on the inbox's file system. Default: a ".scribegate-staging" folder
	// beside InboxDir.
	StagingDir string `yaml:"staging_dir"`
	// FileMode is the delivered file's permissions, octal (default
	// "0640": readable by the importing service's group).
	FileMode string `yaml:"file_mode"`

	// Timezone is the practice's IANA zone for dates in the message and the
	// rendered text (default Australia/Sydney).
	Timezone string `yaml:"timezone"`
}

// Connector files notes in one Bp Premier practice.
type Connector struct {
	name   string
	log    *slog.Logger
	loc    *time.Location
	fhir   *fhirTransport // one of fhir and hl7 is set
	hl7    *hl7File
	ledger string
}

// Open is the Factory for kind "bestpractice". On transport fhir the
// connector can also search for patients (Searching).
func Open(ctx context.Context, c connectors.Config) (connectors.Connector, error) {
	var s Settings
	if err := c.Decode(&s); err != nil {
		return nil, fmt.Errorf("bestpractice: settings: %w", err)
	}
	conn, err := New(ctx, c, s)
	switch {
	case err != nil:
		return nil, err
	case conn.fhir != nil:
		return Searching{conn}, nil
	}
	return conn, nil
}

// New builds a Connector from decoded settings; Open is the usual entry.
func New(ctx context.Context, c connectors.Config, s Settings) (*Connector, error) {
	if s.Timezone == "" {
		s.Timezone = "Australia/Sydney"
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, fmt.Errorf("bestpractice: timezone: %w", err)
	}
	if s.Timeout, err = connectors.Timeout(s.Timeout, 0); err != nil {
		return nil, fmt.Errorf("bestpractice: %w", err)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn := &Connector{name: c.Name, log: log, loc: loc}
	switch s.Transport {
	case "", TransportHL7File:
		if s.InboxDir == "" {
			return nil, errors.New("bestpractice: inbox_dir is required for transport hl7file")
		}
		if err := ensureDir(s.InboxDir); err != nil {
			return nil, fmt.Errorf("bestpractice: inbox_dir: %w", err)
		}
		if s.LedgerDir == "" {
			s.LedgerDir = filepath.Join(filepath.Dir(filepath.Clean(s.InboxDir)), ".scribegate-sent", filepath.Base(filepath.Clean(s.InboxDir)))
		}
		if err := os.MkdirAll(s.LedgerDir, 0o700); err != nil {
			return nil, fmt.Errorf("bestpractice: ledger_dir: %w", err)
		}
		if s.StagingDir == "" {
			s.StagingDir = filepath.Join(filepath.Dir(filepath.Clean(s.InboxDir)), ".scribegate-staging", filepath.Base(filepath.Clean(s.InboxDir)))
		}
		if err := os.MkdirAll(s.StagingDir, 0o700); err != nil {
			return nil, fmt.Errorf("bestpractice: staging_dir: %w", err)
		}
		if err := sameFileSystem(s.StagingDir, s.InboxDir); err != nil {
			return nil, fmt.Errorf("bestpractice: staging_dir: %w", err)
		}
		mode, err := strconv.ParseUint(orDefault(s.FileMode, "0640"), 8, 32)
		if err != nil || mode&^0o777 != 0 || mode&0o600 != 0o600 {
			return nil, fmt.Errorf("bestpractice: file_mode %q: want octal permissions such as 0640 that let the owner read and write", s.FileMode)
		}
		h := hl7Header{
			SendingApplication:   orDefault(s.SendingApplication, "SCRIBEGATE"),
			SendingFacility:      orDefault(s.SendingFacility, c.Name),
			ReceivingApplication: orDefault(s.ReceivingApplication, "BPS"),
			ReceivingFacility:    s.ReceivingFacility,
		}
		if h.SendingFacilityHD, err = facility("sending", h.SendingFacility, s.SendingFacilityID, s.SendingFacilityIDType); err != nil {
			return nil, err
		}
		if h.ReceivingFacilityHD, err = facility("receiving", h.ReceivingFacility, s.ReceivingFacilityID, s.ReceivingFacilityIDType); err != nil {
			return nil, err
		}
		conn.hl7 = &hl7File{inbox: s.InboxDir, ledger: s.LedgerDir, staging: s.StagingDir, mode: os.FileMode(mode),
			header: h, loc: loc, now: time.Now, log: log}
	case TransportFHIR:
		t, err := newFHIRTransport(c, s)
		if err != nil {
			return nil, err
		}
		conn.fhir = t
	default:
		return nil, fmt.Errorf("bestpractice: transport %q: want %q or %q", s.Transport, TransportHL7File, TransportFHIR)
	}
	return conn, nil
}

// Push files d. Patient and author identifiers are validated first: an
// invalid IHI, Medicare number or HPI-I is a permanent failure, because
// filing against a mistyped identifier could put the note in the wrong
// chart.
func (c *Connector) Push(ctx context.Context, d *connectors.Document) (connectors.Receipt, error) {
	patient, author, err := refs(d)
	if err != nil {
		return connectors.Receipt{}, connectors.Permanent(err)
	}
	if c.hl7 != nil {
		if err := d.Check(); err != nil {
			err = fmt.Errorf("bestpractice: %w", err)
			return connectors.Receipt{}, connectors.Permanent(err)
		}
		r, err := c.hl7.push(ctx, d, patient, author)
		if err == nil {
			c.log.InfoContext(ctx, "bestpractice: delivered to inbox", "instance", c.name, "note", d.NoteID, "version", d.Version, "duplicate", r.Duplicate)
		}
		return r, err
	}
	return c.fhir.push(ctx, d, patient, author)
}

// Check implements connectors.Checker.
func (c *Connector) Check(ctx context.Context) []connectors.CheckResult {
	if c.hl7 != nil {
		return c.hl7.check()
	}
	return c.fhir.check(ctx)
}

// ValidatePatientID applies Push's patient rules when a recording starts:
// an IHI (however written, a bare 16-digit 800360 number included) or a
// Medicare number must carry the right check digit, a provider identifier
// is no patient, and a Bp Premier id must be a FHIR logical id.
func (c *Connector) ValidatePatientID(id string) error {
	_, err := auident.ParsePatient(id)
	return err
}

// refs parses and validates the patient and author references of d.
func refs(d *connectors.Document) (patient, author auident.Ref, err error) {
	if d == nil {
		return patient, author, errors.New("bestpractice: nil document")
	}
	patient, err = auident.ParsePatient(d.Patient)
	if err != nil {
		return patient, author, fmt.Errorf("patient: %w", err)
	}
	for _, p := range []struct{ what, v string }{{"author", d.Author}, {"approver", d.Approver}} {
		if p.v == "" {
			continue
		}
		r, err := auident.Parse(p.v)
		if err != nil {
			return patient, author, fmt.Errorf("%s: %w", p.what, err)
		}
		if r.Kind != "" && r.Kind != auident.HPII {
			return patient, author, fmt.Errorf("%s: %w: practitioners are identified by HPI-I", p.what, auident.ErrInvalid)
		}
		if p.what == "author" {
			author = r
		}
	}
	return patient, author, nil
}

// facility checks an organisation id for MSH-4/6 and builds the HD. An
// HPI-O is recognised by its prefix and validated; any other id needs its
// type stated.
func facility(side, name, id, idType string) (string, error) {
	if id == "" {
		if idType != "" {
			return "", fmt.Errorf("bestpractice: %s_facility_id_type without %s_facility_id", side, side)
		}
		return facilityHD(name, "", ""), nil
	}
	if strings.HasPrefix(id, "800362") || idType == "AUSHIC" {
		if err := auident.Validate(auident.HPIO, id); err != nil {
			return "", fmt.Errorf("bestpractice: %s_facility_id: %w", side, err)
		}
		idType = orDefault(idType, "AUSHIC")
	}
	if idType == "" {
		return "", fmt.Errorf("bestpractice: %s_facility_id_type is required for an id that is not an HPI-O", side)
	}
	return facilityHD(name, id, idType), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
