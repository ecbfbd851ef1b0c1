// Package review holds a note's life from draft to chart: its states and
// versions, clinician edits and approvals, the audit trail, and the outbox
// that hands approved notes to a Pusher exactly once.
//
// review does not know about EHRs. It defines the Pusher it needs, and the
// wiring in cmd hands it one backed by a connector.
package review

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/scribegate/scribegate/review/note"
)

// State is where a note is in its life. The zero value is invalid on purpose.
type State string

// The states of a note (DESIGN.md, "Life of a note").
const (
	StateRecording     State = "recording"
	StateDrafting      State = "drafting"
	StatePendingReview State = "pending_review"
	StateApproved      State = "approved"
	StatePushing       State = "pushing"
	StatePushed        State = "pushed"
	StatePushFailed    State = "push_failed"
	StateRejected      State = "rejected"
)

// Role is what an actor may do.
type Role string

// Roles (DESIGN.md, "Security").
const (
	RoleClinician Role = "clinician"
	RoleReviewer  Role = "reviewer"
	RoleAdmin     Role = "admin"
)

// Actor is who is acting, as established by the gateway's authentication.
// Every transition records one.
type Actor struct {
	// Subject is the stable user id (JWT sub).
	Subject string `json:"subject"`
	// Name is the display name, for the EHR's author and verifier fields.
	Name   string `json:"name,omitempty"`
	Clinic string `json:"clinic"`
	Role   Role   `json:"role"`
}

// Note is one consultation's note and the facts the EHR needs to file it.
type Note struct {
	ID        string `json:"id"`
	Clinic    string `json:"clinic"`
	Clinician string `json:"clinician"`
	// ClinicianName is the display name of the consulting clinician.
	ClinicianName string `json:"clinician_name,omitempty"`
	// Patient and Encounter are the EHR's ids of the patient and the visit,
	// as the recorder gave them.
	Patient   string `json:"patient"`
	Encounter string `json:"encounter,omitempty"`
	// PatientName, PatientBirthDate (YYYY-MM-DD) and PatientSex (FHIR
	// administrative gender) are the patient as the recorder confirmed
	// them: shown to the reviewer so a note is checked against the right
	// person, and sent to EHRs that match documents on demographics
	// rather than on the id alone. All optional.
	PatientName      string `json:"patient_name,omitempty"`
	PatientBirthDate string `json:"patient_birth_date,omitempty"`
	PatientSex       string `json:"patient_sex,omitempty"`
	Template         string `json:"template"`
	// Connector names the configured EHR connector instance the note goes to.
	Connector string `json:"connector"`
	SessionID string `json:"session_id,omitempty"`
	// Tags are the recorder's labels (Deepgram's tag parameter), kept for
	// the integrator's own bookkeeping; they are not sent to the EHR.
	Tags []string `json:"tags,omitempty"`
	// Recording is set while the consultation streams: what a gateway
	// needs to resume it, or to finish it from its stored audio.
	Recording *Recording `json:"recording,omitempty"`

	State State `json:"state"`
	// Version counts edits from 1; every change of content makes a new one.
	Version int `json:"version"`

	Draft      note.Draft  `json:"draft"`
	Transcript []note.Line `json:"transcript"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Approval fields are set when a clinician approves; ApprovedVersion is
	// the exact version that may be pushed.
	ApprovedBy      string    `json:"approved_by,omitempty"`
	ApprovedByName  string    `json:"approved_by_name,omitempty"`
	ApprovedAt      time.Time `json:"approved_at,omitzero"`
	ApprovedVersion int       `json:"approved_version,omitempty"`

	RejectedBy   string `json:"rejected_by,omitempty"`
	RejectReason string `json:"reject_reason,omitempty"`

	// Push outcome.
	PushAttempts int       `json:"push_attempts,omitempty"`
	PushedAt     time.Time `json:"pushed_at,omitzero"`
	// PushRetries counts the retries asked for (RetryPush) since the
	// approval; each after the first waits longer (RetryDelay).
	PushRetries int `json:"push_retries,omitempty"`
	// ExternalID is the EHR's id or location of the filed document.
	ExternalID string `json:"external_id,omitempty"`
	// PushedVersion is the version ExternalID holds. When a pushed note is
	// edited and approved again, the new version is sent as an amendment
	// that replaces this one.
	PushedVersion int `json:"pushed_version,omitempty"`
	// PushError is the EHR's own message when the push failed for good.
	PushError string `json:"push_error,omitempty"`

	// Rollup is what the rollout figures need of the note's life, kept
	// up to date at every transition (review/rollout).
	Rollup *Rollup `json:"rollup,omitempty"`
}

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotFound is returned for a note that does not exist or that belongs
	// to another clinic: the two are not distinguished, so ids leak nothing.
	ErrNotFound = errors.New("review: note not found")
	// ErrForbidden is returned when the actor's role does not allow the action.
	ErrForbidden = errors.New("review: not allowed")
)

// StateError reports an action that the note's state does not allow, such as
// approving a note that is not pending review.
type StateError struct {
	Action string
	State  State
}

func (e *StateError) Error() string {
	return fmt.Sprintf("review: cannot %s a note in state %s", e.Action, e.State)
}

// VersionError reports an action made against a version that is no longer
// current; Current lets the client reload and retry.
type VersionError struct {
	Given, Current int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("review: version %d is stale; current version is %d", e.Given, e.Current)
}

// Flag is one support-check flag of a note version, named the way an
// approval acknowledges it.
type Flag struct {
	// ID is "<section id>/<sentence index>/<flag index>" in the version
	// (indexes from 0).
	ID       string `json:"id"`
	Section  string `json:"section"`
	Sentence int    `json:"sentence"`
	Flag     string `json:"flag"`
}

// OpenFlags lists every flag of a draft in order: each must be
// acknowledged to approve the version.
func OpenFlags(d note.Draft) []Flag {
	var out []Flag
	for _, s := range d.Sections {
		for j, sen := range s.Sentences {
			for k, f := range sen.Flags {
				out = append(out, Flag{
					ID:      s.ID + "/" + strconv.Itoa(j) + "/" + strconv.Itoa(k),
					Section: s.ID, Sentence: j, Flag: f,
				})
			}
		}
	}
	return out
}

// FlagsError refuses an approval that did not acknowledge every open flag
// of the version; Missing lists those it left out.
type FlagsError struct {
	Missing []Flag
}

func (e *FlagsError) Error() string {
	return fmt.Sprintf("review: %d open flag(s) not acknowledged", len(e.Missing))
}
