package fhirdoc_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/connectortest"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/fhirtest"
)

func sampleDocument() *connectors.Document {
	return &connectors.Document{
		NoteID:       "note-7f3a",
		Version:      2,
		Clinic:       "acme",
		Patient:      "erXuFYUfucBZaryVksYEcMg3",
		Encounter:    "eMVYoWxWKPRiKBpLzgb-Xkw3",
		Author:       "prac-1",
		AuthorName:   "Dr Ada Lovelace",
		Approver:     "prac-2",
		ApproverName: "Dr Grace Hopper",
		ApprovedAt:   time.Date(2024, 5, 1, 10, 30, 0, 0, time.UTC),
		Template:     "consult",
		LOINC:        "11488-4",
		LOINCDisplay: "Consult note",
		Title:        "Consultation",
		Text:         "Subjective:\nCough for 3 days <no fever> & tired.\n\nPlan:\nRest.",
		Created:      time.Date(2024, 5, 1, 9, 45, 0, 0, time.FixedZone("AEST", 10*3600)),
		Drafter:      "openai:gpt-4o-mini",
	}
}

// marshal encodes a built resource as it is sent.
func marshal(t *testing.T, resource any) []byte {
	t.Helper()
	b, err := fhirdoc.Marshal(resource)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	amend := sampleDocument()
	amend.Version = 3
	amend.Replaces = connectors.Identifier(amend.NoteID, 2)
	amend.ReplacesExternalID = "https://ehr.example/fhir/DocumentReference/abc/_history/1"
	noEncounter := sampleDocument()
	noEncounter.Encounter, noEncounter.Author, noEncounter.Title = "", "", ""

	au := fhirdoc.Profile{
		NoteSystem:         "https://clinic.example/scribegate/note",
		PatientSystem:      "http://ns.electronichealth.net.au/id/hi/ihi/1.0",
		PractitionerSystem: "http://ns.electronichealth.net.au/id/hi/hpii/1.0",
		HTML:               true,
		Preliminary:        true,
	}
	auDoc := sampleDocument()
	auDoc.Patient, auDoc.Author, auDoc.Approver = "8003608166690503", "8003611566712356", "8003619900015717"

	edited := sampleDocument()
	edited.ClinicianAuthored = true
	editedByAuthor := sampleDocument()
	editedByAuthor.ClinicianAuthored = true
	editedByAuthor.Approver, editedByAuthor.ApproverName = editedByAuthor.Author, editedByAuthor.AuthorName

	tests := []struct {
		name string
		d    *connectors.Document
		p    fhirdoc.Profile
	}{
		{"documentreference-clinician-edited", edited, fhirdoc.Profile{}},
		{"documentreference-clinician-edited-by-author", editedByAuthor, fhirdoc.Profile{}},
		{"documentreference", sampleDocument(), fhirdoc.Profile{}},
		{"documentreference-amendment", amend, fhirdoc.Profile{}},
		{"documentreference-minimal", noEncounter, fhirdoc.Profile{}},
		{"documentreference-au-html", auDoc, au},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dr, err := fhirdoc.BuildDocumentReference(tt.d, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			b := marshal(t, dr)
			if bytes.Contains(b, []byte("null")) {
				t.Errorf("output contains null: %s", b)
			}
			connectortest.Golden(t, tt.name+".golden.json", b)

			prov, err := fhirdoc.BuildProvenance(tt.d, fhirdoc.DocumentTarget("DocumentReference/42", tt.d, tt.p), tt.p)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.Replace(tt.name, "documentreference", "provenance", 1)
			connectortest.Golden(t, name+".golden.json", marshal(t, prov))
		})
	}
}

// TestDocumentReferenceContent decodes the output and checks the elements
// EHRs and the idempotency rely on, independent of the golden files.
func TestDocumentReferenceContent(t *testing.T) {
	d := sampleDocument()
	dr, err := fhirdoc.BuildDocumentReference(d, fhirdoc.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	b := marshal(t, dr)
	var got struct {
		ResourceType     string
		Status           string
		DocStatus        string
		MasterIdentifier struct{ System, Value string }
		Identifier       []struct{ System, Value string }
		Meta             struct {
			Security []struct{ System, Code string }
		}
		Content []struct {
			Attachment struct {
				ContentType, Data, Hash string
				Size                    int
			}
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), `{"resourceType":"DocumentReference"`) {
		t.Errorf("resourceType is not first: %.60s", b)
	}
	if got.Status != "current" || got.DocStatus != "final" {
		t.Errorf("status %q docStatus %q, want current final", got.Status, got.DocStatus)
	}
	wantID := "note-7f3a-v2"
	if got.MasterIdentifier.Value != wantID || len(got.Identifier) != 1 || got.Identifier[0].Value != wantID || got.Identifier[0].System != fhirdoc.DefaultNoteSystem {
		t.Errorf("identifiers %+v %+v, want %s|%s", got.MasterIdentifier, got.Identifier, fhirdoc.DefaultNoteSystem, wantID)
	}
	if len(got.Meta.Security) != 1 || got.Meta.Security[0].Code != "AIAST" {
		t.Errorf("security %+v, want AIAST", got.Meta.Security)
	}
	if len(got.Content) != 1 {
		t.Fatalf("%d attachments, want 1", len(got.Content))
	}
	a := got.Content[0].Attachment
	data, err := base64.StdEncoding.DecodeString(a.Data)
	if err != nil || string(data) != d.Text {
		t.Errorf("attachment data %q (%v), want the note text", data, err)
	}
	sum := sha1.Sum([]byte(d.Text))
	if a.Hash != base64.StdEncoding.EncodeToString(sum[:]) || a.Size != len(d.Text) || a.ContentType != "text/plain; charset=utf-8" {
		t.Errorf("attachment %+v", a)
	}
	if got, want := (fhirdoc.Profile{}).IfNoneExist(d), "identifier=urn:scribegate:note|note-7f3a-v2"; got != want {
		t.Errorf("IfNoneExist = %q, want %q", got, want)
	}
}

func TestBuildRejectsIncompleteDocuments(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*connectors.Document)
		missing string
	}{
		{"no patient", func(d *connectors.Document) { d.Patient = "" }, "patient"},
		{"no approver", func(d *connectors.Document) { d.Approver = "" }, "approver"},
		{"no version", func(d *connectors.Document) { d.Version = 0 }, "version"},
		{"blank text", func(d *connectors.Document) { d.Text = " \n" }, "text"},
		{"no LOINC", func(d *connectors.Document) { d.LOINC = "" }, "LOINC"},
		{"not approved", func(d *connectors.Document) { d.ApprovedAt = time.Time{} }, "approval time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleDocument()
			tt.mutate(d)
			_, err := fhirdoc.BuildDocumentReference(d, fhirdoc.Profile{})
			if !errors.Is(err, fhirdoc.ErrInvalidDocument) || !strings.Contains(err.Error(), tt.missing) {
				t.Errorf("BuildDocumentReference = %v, want ErrInvalidDocument naming %q", err, tt.missing)
			}
			if _, err := fhirdoc.BuildProvenance(d, fhirdoc.DocumentTarget("", d, fhirdoc.Profile{}), fhirdoc.Profile{}); !errors.Is(err, fhirdoc.ErrInvalidDocument) {
				t.Errorf("BuildProvenance = %v, want ErrInvalidDocument", err)
			}
		})
	}
}

func TestMarshalStripsNulls(t *testing.T) {
	// A zero Provenance marshals target and agent as null in the library.
	got, err := fhirdoc.Clean([]byte(`{"a":null,"b":[],"c":{},"d":[null,{"e":null}],"resourceType":"X","f":"<&>","g":1.50}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resourceType":"X","f":"<&>","g":1.50}`; string(got) != want {
		t.Errorf("Clean = %s, want %s", got, want)
	}
}

func TestRelativeReference(t *testing.T) {
	tests := []struct{ in, want string }{
		{"123", "DocumentReference/123"},
		{"DocumentReference/123", "DocumentReference/123"},
		{"DocumentReference/123/_history/2", "DocumentReference/123"},
		{"https://ehr.example/fhir/r4/DocumentReference/abc/_history/1", "DocumentReference/abc"},
		{"https://ehr.example/fhir/r4/Other/abc", "DocumentReference/abc"},
	}
	for _, tt := range tests {
		if got := fhirdoc.RelativeReference("DocumentReference", tt.in); got != tt.want {
			t.Errorf("RelativeReference(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestXHTMLEscapes(t *testing.T) {
	got := fhirdoc.XHTML("a <script>alert(1)</script>\nb & c\n\nnext")
	want := `<div xmlns="http://www.w3.org/1999/xhtml"><p>a &lt;script&gt;alert(1)&lt;/script&gt;<br/>b &amp; c</p><p>next</p></div>`
	if got != want {
		t.Errorf("XHTML = %s, want %s", got, want)
	}
}

func TestParseOperationOutcome(t *testing.T) {
	tests := []struct {
		name, body, want string
		ok               bool
	}{
		{"details text", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","details":{"text":"Encounter does not belong to patient"}}]}`, "Encounter does not belong to patient", true},
		{"diagnostics and expression", `{"resourceType":"OperationOutcome","issue":[{"severity":"warning","code":"informational","diagnostics":"fyi"},{"severity":"error","code":"required","diagnostics":"subject is required","expression":["DocumentReference.subject"]}]}`, "DocumentReference.subject: subject is required", true},
		{"coding display, unknown severity code", `{"resourceType":"OperationOutcome","issue":[{"severity":"weird","code":"x","details":{"coding":[{"code":"59008","display":"Invalid encounter"}]}}]}`, "Invalid encounter", true},
		{"not an outcome", `{"resourceType":"Patient"}`, "", false},
		{"html error page", `<html>Bad gateway</html>`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := fhirdoc.ParseOperationOutcome([]byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseOperationOutcome = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDecodeLenient(t *testing.T) {
	// An unknown status code and unknown element would fail the model.
	r, err := fhirdoc.DecodeLenient([]byte(`{"resourceType":"DocumentReference","id":"9","status":"brand-new","x-vendor":{"a":1},"identifier":[{"system":"s","value":"v"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "9" || r.Status != "brand-new" || !r.HasIdentifier("s", "v") || r.HasIdentifier("s", "w") {
		t.Errorf("DecodeLenient = %+v", r)
	}
	b, err := fhirdoc.DecodeBundle([]byte(`{"resourceType":"Bundle","type":"searchset","total":1,"entry":[{"resource":{"resourceType":"DocumentReference","id":"9"},"search":{"mode":"match"}},{"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := b.Matches(); len(m) != 1 || m[0].ID != "9" {
		t.Errorf("Matches = %+v", m)
	}
	if _, err := fhirdoc.DecodeBundle([]byte(`{"resourceType":"Patient"}`)); err == nil {
		t.Error("DecodeBundle accepted a Patient")
	}
}

// TestDeclaration checks the in-text AI declaration for EHRs without
// Provenance: the approved text is sent unchanged, followed by one line
// naming the software, the model, the approver and the approval date, in
// every attachment; the label stays; SplitDeclaration recovers the text.
func TestDeclaration(t *testing.T) {
	d := sampleDocument()
	d.ApprovedAt = time.Date(2024, 5, 1, 23, 30, 0, 0, time.UTC)
	sydney := time.FixedZone("AEST", 10*3600)
	p := fhirdoc.Profile{Declare: true, HTML: true, Software: "scribegate-test", Location: sydney}
	want := "Drafted with AI assistance by scribegate-test (openai:gpt-4o-mini); reviewed and approved by Dr Grace Hopper on 2 May 2024."
	if got := fhirdoc.Declaration(d, p); got != want {
		t.Fatalf("Declaration = %q, want %q", got, want)
	}
	dr, err := fhirdoc.BuildDocumentReference(d, p)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := base64.StdEncoding.DecodeString(*dr.Content[0].Attachment.Data)
	if string(plain) != d.Text+"\n\n"+want {
		t.Errorf("text/plain attachment = %q", plain)
	}
	text, decl, ok := fhirdoc.SplitDeclaration(string(plain))
	if !ok || text != d.Text || decl != want {
		t.Errorf("SplitDeclaration = %q, %q, %v", text, decl, ok)
	}
	htmlPart, _ := base64.StdEncoding.DecodeString(*dr.Content[1].Attachment.Data)
	if !strings.Contains(string(htmlPart), "<p>Drafted with AI assistance by scribegate-test") {
		t.Errorf("XHTML attachment lacks the declaration: %s", htmlPart)
	}
	if dr.Meta == nil || len(dr.Meta.Security) != 1 || *dr.Meta.Security[0].Code != fhirdoc.AIAssertedCode {
		t.Errorf("security label lost: %+v", dr.Meta)
	}
	if _, _, ok := fhirdoc.SplitDeclaration(d.Text); ok {
		t.Error("SplitDeclaration found a declaration in a note without one")
	}
	if _, _, ok := fhirdoc.SplitDeclaration(d.Text + "\n\n" + want + "\nmore"); ok {
		t.Error("SplitDeclaration accepted text after the declaration")
	}
	undeclared, _ := fhirdoc.BuildDocumentReference(d, fhirdoc.Profile{})
	if got, _ := base64.StdEncoding.DecodeString(*undeclared.Content[0].Attachment.Data); string(got) != d.Text {
		t.Errorf("without Declare the text changed: %q", got)
	}
}

func TestProfileCategoryAndContentType(t *testing.T) {
	d := sampleDocument()
	local := fhir.CodeableConcept{Coding: []fhir.Coding{{System: ptrTo("urn:example:category"), Code: ptrTo("scribe")}}}
	for _, tc := range []struct {
		name            string
		p               fhirdoc.Profile
		category, ctype string
	}{
		{"defaults", fhirdoc.Profile{}, "clinical-note", "text/plain; charset=utf-8"},
		{"own category, bare text/plain", fhirdoc.Profile{Category: []fhir.CodeableConcept{local}, ContentType: "text/plain"}, "scribe", "text/plain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dr, err := fhirdoc.BuildDocumentReference(d, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			b := marshal(t, dr)
			if err := fhirtest.Schema(t).Validate(b); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Category []struct{ Coding []struct{ Code string } }
				Content  []struct{ Attachment struct{ ContentType string } }
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Category) != 1 || got.Category[0].Coding[0].Code != tc.category {
				t.Errorf("category %+v, want %s", got.Category, tc.category)
			}
			if got.Content[0].Attachment.ContentType != tc.ctype {
				t.Errorf("content type %q, want %q", got.Content[0].Attachment.ContentType, tc.ctype)
			}
		})
	}
}

func ptrTo(s string) *string { return &s }

// TestReferencesNeverRewriteIDs: an id a "Patient/{id}" reference cannot
// carry as given is refused, never cut down to the part that looks like
// an id (which pointed the EHR at another resource than the reviewer saw).
func TestReferencesNeverRewriteIDs(t *testing.T) {
	for _, id := range []string{"123&x/../../Observation/1 %2F", "..", "1/2", "a b", "p\n1", strings.Repeat("9", 65)} {
		d := sampleDocument()
		d.Patient = id
		if _, err := fhirdoc.BuildDocumentReference(d, fhirdoc.Profile{}); !errors.Is(err, fhirdoc.ErrInvalidDocument) {
			t.Errorf("patient %q: %v, want ErrInvalidDocument", id, err)
		}
		d = sampleDocument()
		d.Encounter = id
		if _, err := fhirdoc.BuildDocumentReference(d, fhirdoc.Profile{}); !errors.Is(err, fhirdoc.ErrInvalidDocument) {
			t.Errorf("encounter %q: %v, want ErrInvalidDocument", id, err)
		}
	}
	d := sampleDocument()
	d.Patient, d.Encounter = "pat-1.2", "enc.9"
	dr, err := fhirdoc.BuildDocumentReference(d, fhirdoc.Profile{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *dr.Subject.Reference; got != "Patient/pat-1.2" {
		t.Errorf("subject %q", got)
	}
	// Sent as an identifier, the value goes as given.
	d.Patient = "ihi:8003 6081 6669 0503"
	dr, err = fhirdoc.BuildDocumentReference(d, fhirdoc.Profile{PatientSystem: "http://ns.electronichealth.net.au/id/hi/ihi/1.0"})
	if err != nil || *dr.Subject.Identifier.Value != d.Patient {
		t.Errorf("identifier subject: %v %+v", err, dr.Subject)
	}
}
