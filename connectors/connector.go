// Package connectors files approved notes in EHRs. A Connector pushes one
// Document to one configured EHR instance; connector kinds register
// themselves with Register, as database/sql drivers do, so an integrator adds
// an EHR in one package without touching the gateway.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Document is an approved note as a connector needs it: everything an EHR
// document carries, and nothing about the gateway's review workflow.
type Document struct {
	// NoteID and Version identify exactly what the clinician approved; the
	// DocumentReference identifier is minted from them so a retry can be
	// recognised as the same document.
	NoteID  string
	Version int
	Clinic  string

	Patient   string // EHR patient id (FHIR Patient logical id)
	Encounter string // EHR encounter id, may be empty where the EHR allows

	// PatientName, PatientBirthDate (YYYY-MM-DD) and PatientSex (FHIR
	// administrative gender: male, female, other, unknown) are the
	// patient's demographics as confirmed when the recording started. They
	// may be empty. EHRs that match incoming documents on name and birth
	// date rather than on an id (Bp Premier's HL7 inbox, Gentu) get them;
	// a connector must never log them.
	PatientName      string
	PatientBirthDate string
	PatientSex       string

	// Author is the consulting clinician (Practitioner id and display name).
	Author     string
	AuthorName string
	// Approver is the clinician who approved this version.
	Approver     string
	ApproverName string
	ApprovedAt   time.Time

	// Template and its LOINC note type.
	Template     string
	LOINC        string
	LOINCDisplay string
	Title        string
	// Text is the note as plain text, exactly as approved.
	Text string
	// Created is when the consultation was recorded.
	Created time.Time

	// Drafter names the software that drafted the note (for the AI
	// transparency Provenance), e.g. "rules" or "openai:gpt-4o-mini".
	Drafter string
	// ClinicianAuthored says a clinician wrote some of Text themselves
	// (typed, added or rewrote sentences in review); the rest the drafter
	// wrote. The Provenance then names the approving clinician as an author
	// of that content, not only as its verifier.
	ClinicianAuthored bool

	// Replaces is set for an amendment: the identifier value of the version
	// it replaces (see Identifier), and the EHR's id for it if known.
	Replaces           string
	ReplacesExternalID string
}

// Receipt is what the EHR said when it filed a document.
type Receipt struct {
	// ExternalID is the EHR's id or location of the document.
	ExternalID string
	// Duplicate is true when the EHR already had this document (a retry
	// after a lost response) and nothing new was filed.
	Duplicate bool
}

// Connector files documents in one EHR instance. Implementations must be safe
// for concurrent use and must make Push idempotent for a given
// (NoteID, Version): pushing it twice files it once.
type Connector interface {
	Push(ctx context.Context, d *Document) (Receipt, error)
}

// PushError is a failed push, classified so callers know whether to retry.
type PushError struct {
	// Permanent means retrying will not help (the EHR refused the document).
	Permanent bool
	// StatusCode is the EHR's HTTP status, 0 for a network error.
	StatusCode int
	// Message is the EHR's own explanation (OperationOutcome text), suitable
	// to show the clinician.
	Message string
	// RetryAfter is the EHR's requested wait, when it gave one.
	RetryAfter time.Duration
	// Filed is the EHR's id for the document when the document itself is
	// filed and only what goes with it (its Provenance) failed, so the
	// note can say "document filed, provenance pending".
	Filed string
	Err   error
}

// RetryDelay is RetryAfter, for callers (the push worker) that know
// failures by their methods.
func (e *PushError) RetryDelay() time.Duration { return e.RetryAfter }

// HTTPStatus is StatusCode: non-zero when the EHR answered.
func (e *PushError) HTTPStatus() int { return e.StatusCode }

// FiledAs is Filed.
func (e *PushError) FiledAs() string { return e.Filed }

func (e *PushError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("connectors: %s push failure (HTTP %d): %s", kind, e.StatusCode, msg)
	}
	return fmt.Sprintf("connectors: %s push failure: %s", kind, msg)
}

func (e *PushError) Unwrap() error { return e.Err }

// LogValue is the failure as logs carry it: its class, status, wait and
// cause, without Message. The EHR's own words are for the clinician, who
// sees them beside the note; they may quote the document or name the
// patient ("Patient Jane Citizen has no open encounter"), and logs carry
// ids and codes, never note text or patient names.
func (e *PushError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("permanent", e.Permanent)}
	if e.StatusCode != 0 {
		attrs = append(attrs, slog.Int("status", e.StatusCode))
	}
	if e.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", e.RetryAfter))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.Any("cause", e.Err))
	}
	return slog.GroupValue(attrs...)
}

// IsPermanent reports whether err is a push failure that retrying will not
// fix.
func IsPermanent(err error) bool {
	var pe *PushError
	return errors.As(err, &pe) && pe.Permanent
}

// Permanent is the failure of a push the EHR will never take as it is (a
// document that cannot be built for it, a patient identifier it cannot
// hold): permanent, with err's text as the message the clinician sees. It
// is nil when err is.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PushError{Permanent: true, Message: err.Error(), Err: err}
}

// NotJudged is the rule for a failed look before a create (a search or list
// for an earlier push, or the token to make it with): the document itself
// was not judged, so the failure is transient whatever the EHR answered —
// a refused search or an unavailable token endpoint must keep the note
// queued, never fail it for good. what prefixes the message ("cannot check
// the EHR for an earlier push"). A caller whose EHR answers a look with a
// verdict on the note itself (athenahealth's 404 for an unknown patient)
// decides that before calling NotJudged.
func NotJudged(err error, what string) error {
	if err == nil {
		return nil
	}
	var pe *PushError
	if !errors.As(err, &pe) {
		return &PushError{Message: what + ": " + err.Error(), Err: err}
	}
	cp := *pe
	cp.Permanent = false
	if what != "" {
		cp.Message = what + ": " + pe.Message
	}
	return &cp
}
