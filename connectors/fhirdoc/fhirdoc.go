// Package fhirdoc builds the FHIR R4 resources scribegate files in an EHR —
// a DocumentReference for the approved note and a Provenance declaring the AI
// that drafted it and the clinician who approved it — and decodes EHR
// replies leniently.
//
// Resources are built on golang-fhir-models (v0.3.2) through constructors
// that always set every required element, because the library marshals an
// unset required list as null and an unset coded field as its first code
// (an unset status silently becomes "current"). Marshal strips nulls and
// empty containers. Replies are never decoded into the library's types: an
// unknown code would fail the whole decode.
//
// Sources: FHIR R4 DocumentReference (https://hl7.org/fhir/R4/documentreference.html),
// US Core DocumentReference (category clinical-note,
// http://hl7.org/fhir/us/core/StructureDefinition-us-core-documentreference.html),
// AI Transparency on FHIR (http://hl7.org/fhir/uv/aitransparency/: the
// v3-ObservationValue#AIAST security label; its AI-Provenance profile and
// examples give the AI agent type provenance-participant-type#author with
// who a Device typed AIdeviceTypeCS#Artificial-Intelligence, and the
// clinician as verifier).
package fhirdoc

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/scribegate/scribegate/connectors"
)

// Code systems and codes the resources use.
const (
	// DefaultNoteSystem is the identifier system for our note identifier
	// when a profile names none.
	DefaultNoteSystem = "urn:scribegate:note"

	LOINCSystem            = "http://loinc.org"
	USCoreCategorySystem   = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
	ObservationValueSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
	AIAssertedCode         = "AIAST"
	ParticipantTypeSystem  = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
	AIDeviceTypeSystem     = "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS"
	AIDeviceTypeCode       = "Artificial-Intelligence"
	DataOperationSystem    = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
	PlainTextContentType   = "text/plain; charset=utf-8"
	HTMLContentType        = "text/html; charset=utf-8"
	DocumentReferenceType  = "DocumentReference"
	defaultSoftwareName    = "scribegate"
	// ClinicianAuthoredRole is the role text of the Provenance agent for
	// the clinician who wrote part of the note in review.
	ClinicianAuthoredRole = "wrote part of the note in review (clinician-authored sentences)"
)

// ErrInvalidDocument is wrapped by Build errors when the Document lacks
// something every EHR requires. Retrying will not help: connectors report it
// as a permanent failure.
var ErrInvalidDocument = errors.New("fhirdoc: invalid document")

// Profile carries the per-EHR choices in how a document is built. The zero
// Profile is valid: relative references, the default note system, a final
// text/plain document.
type Profile struct {
	// NoteSystem is the identifier system of the note identifier (the
	// idempotency key); empty means DefaultNoteSystem.
	NoteSystem string
	// PatientSystem, when set, makes the subject an identifier reference
	// (e.g. IHI http://ns.electronichealth.net.au/id/hi/ihi/1.0) with
	// Document.Patient as its value; empty means "Patient/{id}".
	PatientSystem string
	// PractitionerSystem does the same for author and authenticator (e.g.
	// HPI-I); empty means "Practitioner/{id}".
	PractitionerSystem string
	// EncounterSystem does the same for context.encounter; empty means
	// "Encounter/{id}".
	EncounterSystem string
	// HTML adds a second attachment with the note as XHTML, for EHRs that
	// display HTML. The text/plain attachment always comes first (Epic keeps
	// only the first).
	HTML bool
	// Preliminary files the note as docStatus preliminary (a draft in the
	// EHR) instead of final (signed).
	Preliminary bool
	// Software names the drafting software in the Provenance; empty means
	// "scribegate".
	Software string
	// Declare appends the AI declaration (see Declaration) to the note
	// text in every attachment, for EHRs that take no Provenance: there the
	// words in the note are the only declaration the clinician and the
	// chart keep. The approved text is otherwise sent unchanged.
	Declare bool
	// Location is the time zone the declaration's approval date is written
	// in; nil means UTC.
	Location *time.Location
	// Category replaces the document's category, for EHRs that file notes
	// by a category of their own (an AU or local code system) or search
	// by one; nil means US Core's clinical-note.
	Category []fhir.CodeableConcept
	// ContentType is the text attachment's media type; empty means
	// PlainTextContentType. Some EHRs refuse the charset parameter and
	// want a bare "text/plain".
	ContentType string
}

// USCoreClinicalNote is the US Core DocumentReference category every
// clinical note carries unless a Profile names another.
func USCoreClinicalNote() fhir.CodeableConcept {
	return fhir.CodeableConcept{
		Coding: []fhir.Coding{{System: ptr(USCoreCategorySystem), Code: ptr("clinical-note"), Display: ptr("Clinical Note")}},
	}
}

func (p Profile) category() []fhir.CodeableConcept {
	if p.Category == nil {
		return []fhir.CodeableConcept{USCoreClinicalNote()}
	}
	return p.Category
}

func (p Profile) contentType() string {
	if p.ContentType == "" {
		return PlainTextContentType
	}
	return p.ContentType
}

func (p Profile) software() string {
	if p.Software == "" {
		return defaultSoftwareName
	}
	return p.Software
}

// DeclarationPrefix starts every AI declaration, so that a reader (and
// SplitDeclaration) can find it at the end of a filed note.
const DeclarationPrefix = "Drafted with AI assistance by "

// Declaration is the sentence that declares, in the note itself, the AI
// that drafted it and the clinician who approved it: "Drafted with AI
// assistance by scribegate (model); reviewed and approved by Dr A on 1 May
// 2024." It names the same software and approver as the Provenance.
func Declaration(d *connectors.Document, p Profile) string {
	device := p.software()
	if d.Drafter != "" {
		device += " (" + d.Drafter + ")"
	}
	approver := d.ApproverName
	if approver == "" {
		approver = d.Approver
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	return DeclarationPrefix + device + "; reviewed and approved by " + approver + " on " + d.ApprovedAt.In(loc).Format("2 January 2006") + "."
}

// NoteText is the text a document's attachments carry: the approved text
// exactly, followed, when p.Declare is set, by a blank line and the
// Declaration.
func NoteText(d *connectors.Document, p Profile) string {
	if !p.Declare {
		return d.Text
	}
	return d.Text + "\n\n" + Declaration(d, p)
}

// SplitDeclaration undoes NoteText: it returns the approved text and the
// declaration of a filed note that ends with one, and ok false (with the
// text unchanged) for one that does not.
func SplitDeclaration(filed string) (text, declaration string, ok bool) {
	i := strings.LastIndex(filed, "\n\n"+DeclarationPrefix)
	if i < 0 || strings.Contains(filed[i+2:], "\n") {
		return filed, "", false
	}
	return filed[:i], filed[i+2:], true
}

func (p Profile) noteSystem() string {
	if p.NoteSystem == "" {
		return DefaultNoteSystem
	}
	return p.NoteSystem
}

// NoteIdentifier is the identifier the document carries for d.
func (p Profile) NoteIdentifier(d *connectors.Document) fhir.Identifier {
	return fhir.Identifier{System: ptr(p.noteSystem()), Value: ptr(connectors.Identifier(d.NoteID, d.Version))}
}

// IfNoneExist is the If-None-Exist header value (a search query) that finds
// an earlier push of d: "identifier=system|value".
func (p Profile) IfNoneExist(d *connectors.Document) string {
	return "identifier=" + p.noteSystem() + "|" + connectors.Identifier(d.NoteID, d.Version)
}

// Check reports what d lacks that every EHR requires (Document.Check),
// wrapping ErrInvalidDocument.
func Check(d *connectors.Document) error {
	if err := d.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	return nil
}

// DocumentReferenceJSON is the DocumentReference for d encoded as it is
// sent (BuildDocumentReference, then Marshal), for a connector that sends
// it as built.
func DocumentReferenceJSON(d *connectors.Document, p Profile) ([]byte, error) {
	dr, err := BuildDocumentReference(d, p)
	if err != nil {
		return nil, err
	}
	return Marshal(dr)
}

// BuildDocumentReference builds the DocumentReference for an approved note.
// Every required element is set explicitly; the result marshalled with
// Marshal validates against the R4 schema.
func BuildDocumentReference(d *connectors.Document, p Profile) (fhir.DocumentReference, error) {
	if err := Check(d); err != nil {
		return fhir.DocumentReference{}, err
	}
	if err := checkRefIDs(d, p); err != nil {
		return fhir.DocumentReference{}, err
	}
	docStatus := fhir.CompositionStatusFinal
	if p.Preliminary {
		docStatus = fhir.CompositionStatusPreliminary
	}
	title := d.Title
	if title == "" {
		title = d.LOINCDisplay
	}
	created := d.Created
	if created.IsZero() {
		created = d.ApprovedAt
	}
	note := NoteText(d, p)
	text := []byte(note)
	sum := sha1.Sum(text)
	content := []fhir.DocumentReferenceContent{{
		Attachment: fhir.Attachment{
			ContentType: ptr(p.contentType()),
			Data:        ptr(base64.StdEncoding.EncodeToString(text)),
			Size:        ptr(len(text)),
			Hash:        ptr(base64.StdEncoding.EncodeToString(sum[:])),
			Title:       nonEmpty(title),
			Creation:    ptr(dateTime(created)),
		},
	}}
	if p.HTML {
		h := []byte(XHTML(note))
		hsum := sha1.Sum(h)
		content = append(content, fhir.DocumentReferenceContent{
			Attachment: fhir.Attachment{
				ContentType: ptr(HTMLContentType),
				Data:        ptr(base64.StdEncoding.EncodeToString(h)),
				Size:        ptr(len(h)),
				Hash:        ptr(base64.StdEncoding.EncodeToString(hsum[:])),
				Title:       nonEmpty(title),
				Creation:    ptr(dateTime(created)),
			},
		})
	}
	id := p.NoteIdentifier(d)
	master := id
	dr := fhir.DocumentReference{
		Meta: &fhir.Meta{Security: []fhir.Coding{{
			System:  ptr(ObservationValueSystem),
			Code:    ptr(AIAssertedCode),
			Display: ptr("AI asserted"),
		}}},
		MasterIdentifier: &master,
		Identifier:       []fhir.Identifier{id},
		Status:           fhir.DocumentReferenceStatusCurrent,
		DocStatus:        &docStatus,
		Type: &fhir.CodeableConcept{
			Coding: []fhir.Coding{{System: ptr(LOINCSystem), Code: ptr(d.LOINC), Display: nonEmpty(d.LOINCDisplay)}},
			Text:   nonEmpty(d.LOINCDisplay),
		},
		Category:      p.category(),
		Subject:       ref("Patient", d.Patient, "", p.PatientSystem),
		Date:          ptr(instant(d.ApprovedAt)),
		Authenticator: ref("Practitioner", d.Approver, d.ApproverName, p.PractitionerSystem),
		Description:   nonEmpty(title),
		Content:       content,
	}
	if d.Author != "" {
		dr.Author = []fhir.Reference{*ref("Practitioner", d.Author, d.AuthorName, p.PractitionerSystem)}
	}
	if d.Encounter != "" {
		dr.Context = &fhir.DocumentReferenceContext{
			Encounter: []fhir.Reference{*ref("Encounter", d.Encounter, "", p.EncounterSystem)},
		}
	}
	if d.Replaces != "" || d.ReplacesExternalID != "" {
		target := fhir.Reference{Type: ptr(DocumentReferenceType)}
		if d.ReplacesExternalID != "" {
			target.Reference = ptr(RelativeReference(DocumentReferenceType, d.ReplacesExternalID))
		}
		if d.Replaces != "" {
			target.Identifier = &fhir.Identifier{System: ptr(p.noteSystem()), Value: ptr(d.Replaces)}
		}
		dr.RelatesTo = []fhir.DocumentReferenceRelatesTo{{
			Code:   fhir.DocumentRelationshipTypeReplaces,
			Target: target,
		}}
	}
	return dr, nil
}

// BuildProvenance builds the Provenance that declares how the document came
// to be: the AI software that drafted it (author), the approving clinician
// (verifier) and the consulting clinician (author). target is the filed
// DocumentReference; see DocumentTarget.
func BuildProvenance(d *connectors.Document, target fhir.Reference, p Profile) (fhir.Provenance, error) {
	if err := Check(d); err != nil {
		return fhir.Provenance{}, err
	}
	device := p.software()
	if d.Drafter != "" {
		device += " (" + d.Drafter + ")"
	}
	agents := []fhir.ProvenanceAgent{
		{
			// The AI agent. Without contained resources (the library has
			// none) the Device is named by display; its AI device type goes
			// in role so a reader needs no Device resource to see it.
			Type: concept(ParticipantTypeSystem, "author", "Author"),
			Role: []fhir.CodeableConcept{*concept(AIDeviceTypeSystem, AIDeviceTypeCode, "Artificial Intelligence")},
			Who:  fhir.Reference{Type: ptr("Device"), Display: ptr(device)},
		},
		{
			Type: concept(ParticipantTypeSystem, "verifier", "Verifier"),
			Who:  *ref("Practitioner", d.Approver, d.ApproverName, p.PractitionerSystem),
		},
	}
	if d.Author != "" {
		agents = append(agents, fhir.ProvenanceAgent{
			Type: concept(ParticipantTypeSystem, "author", "Author"),
			Who:  *ref("Practitioner", d.Author, d.AuthorName, p.PractitionerSystem),
		})
	}
	if d.ClinicianAuthored {
		// Sentences the clinician wrote in review are theirs, not the
		// AI's. The note keeps no per-sentence editor; the approver signs
		// for every edit of the version, so they are named its author.
		role := fhir.CodeableConcept{Text: ptr(ClinicianAuthoredRole)}
		if d.Author == d.Approver {
			agents[len(agents)-1].Role = []fhir.CodeableConcept{role}
		} else {
			agents = append(agents, fhir.ProvenanceAgent{
				Type: concept(ParticipantTypeSystem, "author", "Author"),
				Role: []fhir.CodeableConcept{role},
				Who:  *ref("Practitioner", d.Approver, d.ApproverName, p.PractitionerSystem),
			})
		}
	}
	return fhir.Provenance{
		Meta: &fhir.Meta{Security: []fhir.Coding{{
			System: ptr(ObservationValueSystem), Code: ptr(AIAssertedCode), Display: ptr("AI asserted"),
		}}},
		Target:           []fhir.Reference{target},
		OccurredDateTime: ptr(dateTime(d.ApprovedAt)),
		Recorded:         instant(d.ApprovedAt),
		Activity:         concept(DataOperationSystem, "CREATE", "create"),
		Agent:            agents,
	}, nil
}

// DocumentTarget is a reference to the filed DocumentReference: by the EHR's
// id when known (externalID may be "123", "DocumentReference/123" or a full
// Location URL with _history), and by our note identifier always, so the
// reference resolves even where the id is unknown.
func DocumentTarget(externalID string, d *connectors.Document, p Profile) fhir.Reference {
	id := p.NoteIdentifier(d)
	r := fhir.Reference{Type: ptr(DocumentReferenceType), Identifier: &id}
	if externalID != "" {
		r.Reference = ptr(RelativeReference(DocumentReferenceType, externalID))
	}
	return r
}

// RelativeReference turns an id, a relative reference or a Location URL
// ("https://ehr/fhir/DocumentReference/123/_history/1") into "Type/id".
func RelativeReference(resourceType, idOrLocation string) string {
	s := strings.TrimSuffix(idOrLocation, "/")
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, resourceType+"/"); i >= 0 && (i == 0 || s[i-1] == '/') {
		return s[i:]
	}
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	return resourceType + "/" + s
}

// XHTML renders plain note text as a sanitized XHTML fragment: every
// character escaped, paragraphs at blank lines, line breaks kept. Nothing
// from the note can become markup.
func XHTML(text string) string {
	var b strings.Builder
	b.WriteString(`<div xmlns="http://www.w3.org/1999/xhtml">`)
	text = strings.ReplaceAll(text, "\r\n", "\n")
	for _, para := range strings.Split(text, "\n\n") {
		para = strings.Trim(para, "\n")
		if para == "" {
			continue
		}
		b.WriteString("<p>")
		for i, line := range strings.Split(para, "\n") {
			if i > 0 {
				b.WriteString("<br/>")
			}
			b.WriteString(html.EscapeString(line))
		}
		b.WriteString("</p>")
	}
	b.WriteString("</div>")
	return b.String()
}

func ref(resourceType, id, display, system string) *fhir.Reference {
	r := &fhir.Reference{Display: nonEmpty(display)}
	if system != "" {
		r.Type = ptr(resourceType)
		r.Identifier = &fhir.Identifier{System: ptr(system), Value: ptr(id)}
	} else {
		// As given: an id is never cut down to what looks like one
		// (checkRefIDs refuses ids a reference cannot carry).
		r.Reference = ptr(resourceType + "/" + id)
	}
	return r
}

// checkRefIDs refuses a patient or encounter id that the document would
// reference as a resource id ("Patient/{id}") but that is not a FHIR id:
// "1/../../Observation/2" would point the EHR at another resource than
// the one the reviewer saw. Ids sent as identifiers (a system set) are
// values, not paths, and go as given.
func checkRefIDs(d *connectors.Document, p Profile) error {
	if p.PatientSystem == "" && !connectors.ValidID(d.Patient) {
		return fmt.Errorf("%w: the patient id is not a FHIR id (1 to 64 letters, digits, '-', '.')", ErrInvalidDocument)
	}
	if d.Encounter != "" && p.EncounterSystem == "" && !connectors.ValidID(d.Encounter) {
		return fmt.Errorf("%w: the encounter id is not a FHIR id (1 to 64 letters, digits, '-', '.')", ErrInvalidDocument)
	}
	return nil
}

func concept(system, code, display string) *fhir.CodeableConcept {
	return &fhir.CodeableConcept{Coding: []fhir.Coding{{System: ptr(system), Code: ptr(code), Display: nonEmpty(display)}}}
}

// instant formats t as a FHIR instant (always with a zone, second precision).
func instant(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func dateTime(t time.Time) string { return instant(t) }

func ptr[T any](v T) *T { return &v }

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
