package mllp

import (
	"strconv"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
	"github.com/scribegate/scribegate/connectors/hl7v2"
)

// header is what the configuration puts in MSH, PID and PV1.
type header struct {
	sendingApplication, sendingFacility     string
	receivingApplication, receivingFacility string
	processingID                            string
	patientAuthority, patientIDType         string
	patientClass                            string
}

// documentTypes maps the LOINC note types of the templates to HL7 table
// 0270 (document type), which TXA-2 carries; the LOINC code itself goes in
// OBX-3 for receivers that file by it.
var documentTypes = map[string]string{
	"11488-4": "CN", // consult note
	"11506-3": "PN", // progress note
	"18842-5": "DS", // discharge summary
	"34117-2": "HP", // history and physical
	"11504-8": "OP", // operative report
	"28570-0": "PR", // procedure note
	"34111-5": "ED", // emergency department note
	"11526-1": "PA", // pathology report
}

// buildMDM is the MDM message for d: T02 (original document notification
// and content), or T10 (document replacement notification and content)
// for an amendment, whose TXA-13 names the document it replaces. The
// message control id and TXA-12 (the unique document number) are derived
// from the note identifier, so a resend after a lost acknowledgement is
// the same message and the receiver can recognise it.
func buildMDM(d *connectors.Document, h header, loc *time.Location, now time.Time) hl7v2.Message {
	ident := connectors.Identifier(d.NoteID, d.Version)
	event, status, reason := "T02", "F", ""
	if d.Replaces != "" {
		event, status, reason = "T10", "C", "Amended by the clinician"
	}
	created := d.Created
	if created.IsZero() {
		created = d.ApprovedAt
	}
	docType := documentTypes[d.LOINC]
	if docType == "" {
		docType = "CN"
	}
	title := d.LOINCDisplay
	if title == "" {
		title = d.Title
	}
	esc := hl7v2.Escape
	ei := func(id string) string {
		if id == "" {
			return ""
		}
		return esc(id) + "^" + esc(h.sendingApplication)
	}
	m := hl7v2.Message{
		hl7v2.Segment("MSH", hl7v2.Encoding,
			esc(h.sendingApplication), esc(h.sendingFacility),
			esc(h.receivingApplication), esc(h.receivingFacility),
			hl7v2.TS(now, loc), "", "MDM^"+event+"^MDM_T02", hl7v2.ControlID(ident), h.processingID,
			"2.5.1", "", "", "", "", "", "UNICODE UTF-8"),
		hl7v2.Segment("EVN", event, hl7v2.TS(now, loc)),
		hl7v2.Segment("PID", "1", "", esc(d.Patient)+"^^^"+esc(h.patientAuthority)+"^"+esc(h.patientIDType), "",
			hl7v2.XPN(d.PatientName), "", hl7v2.DT(d.PatientBirthDate), hl7v2.Sex(d.PatientSex)),
		hl7v2.Segment("PV1", "1", esc(h.patientClass), "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "",
			encounter(d.Encounter, h.sendingApplication)),
		hl7v2.Segment("TXA", "1", docType, "TX", hl7v2.TS(created, loc), xcn(d.Author, d.AuthorName),
			hl7v2.TS(created, loc), hl7v2.TS(d.ApprovedAt, loc), "", xcn(d.Author, d.AuthorName),
			xcn(d.Approver, d.ApproverName), "", ei(ident), ei(d.Replaces), "", "", "",
			"AU", "", "AV", "", esc(reason)),
	}
	// The note, one line per OBX (value type TX), then a blank line and
	// the AI declaration, the chart's only record of how it was drafted.
	text := fhirdoc.NoteText(d, fhirdoc.Profile{Declare: true, Location: loc})
	obx3 := esc(d.LOINC) + "^" + esc(title) + "^LN"
	for i, line := range hl7v2.Lines(text) {
		m = append(m, hl7v2.Segment("OBX", strconv.Itoa(i+1), "TX", obx3, "1", esc(line),
			"", "", "", "", "", status, "", "", hl7v2.TS(created, loc)))
	}
	return m
}

// xcn is a clinician as an extended composite id and name: id^name (the
// whole display name in the family-name component: the gateway holds no
// structured name).
func xcn(id, name string) string {
	if id == "" && name == "" {
		return ""
	}
	return hl7v2.Escape(id) + "^" + hl7v2.Escape(name)
}

// encounter is PV1-19, the visit number, as a CX.
func encounter(id, authority string) string {
	if id == "" {
		return ""
	}
	return hl7v2.Escape(id) + "^^^" + hl7v2.Escape(authority) + "^VN"
}
