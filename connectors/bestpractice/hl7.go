package bestpractice

import (
	"strconv"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
	"github.com/scribegate/scribegate/connectors/hl7v2"
)

// hl7Header names the parties in MSH-3..6 and OBR-3. HL7 Australia
// (HL7au:000002) asks that a document identifier's namespace be fully
// valued, so the sending facility doubles as OBR-3's universal id.
type hl7Header struct {
	SendingApplication   string
	SendingFacility      string
	ReceivingApplication string
	ReceivingFacility    string
	// SendingFacilityHD and ReceivingFacilityHD are MSH-4 and MSH-6 as
	// hierarchic designators, already escaped: the name, and where
	// configured the organisation's identifier (an HPI-O with AUSHIC, or
	// the id the secure-messaging directory publishes) and its type.
	SendingFacilityHD   string
	ReceivingFacilityHD string
}

// facilityHD builds an HD (namespace^universal id^universal id type). An
// HPI-O is qualified by AUSHIC (HL7 Australia ADRM, HD datatype rules);
// another directory id needs its type from the configuration.
func facilityHD(name, id, idType string) string {
	hd := hl7v2.Escape(name)
	if id != "" {
		hd += "^" + hl7v2.Escape(id) + "^" + hl7v2.Escape(idType)
	}
	return hd
}

// buildORU builds the ORU^R01 message for d. The document identifier
// (OBR-3) is the note identifier and the message control id (MSH-10) is
// derived from it in 20 characters (v2.4's limit), so a receiver, and our
// inbox ledger, recognise a resend as the same document. No
// acknowledgement is asked for (MSH-15/16 NE): a file drop has no one to
// send it back to.
// An amendment is sent with result status C (correction) per HL7 v2.4
// table 0123; its OBR-3 is the new identifier and the text says which
// version it replaces.
func buildORU(d *connectors.Document, patient auident.Ref, author auident.Ref, h hl7Header, loc *time.Location, now time.Time) hl7v2.Message {
	id := connectors.Identifier(d.NoteID, d.Version)
	created := d.Created
	if created.IsZero() {
		created = d.ApprovedAt
	}
	status := "F"
	if d.Replaces != "" {
		status = "C"
	}
	title := d.LOINCDisplay
	if title == "" {
		title = d.Title
	}
	noteType := cwe(d.LOINC, title, "LN")

	esc := hl7v2.Escape
	m := hl7v2.Message{
		hl7v2.Segment("MSH", hl7v2.Encoding,
			esc(h.SendingApplication), h.SendingFacilityHD,
			esc(h.ReceivingApplication), h.ReceivingFacilityHD,
			hl7v2.TS(now, loc), "", "ORU^R01^ORU_R01", hl7v2.ControlID(id), "P",
			"2.4^AUS&&ISO3166_1", "", "", "NE", "NE", "AUS", "UNICODE UTF-8"),
		// PID-5, 7 and 8: Bp Premier matches an incoming document to a
		// patient on name and birth date; without them every note waits
		// to be matched by hand.
		hl7v2.Segment("PID", "1", "", pid3(patient, h.ReceivingApplication), "",
			hl7v2.XPN(d.PatientName), "", hl7v2.DT(d.PatientBirthDate), hl7v2.Sex(d.PatientSex)),
		hl7v2.Segment("OBR", "1", "",
			esc(id)+"^"+esc(h.SendingApplication)+"^"+esc(h.SendingFacility)+"^L",
			noteType, "", "", hl7v2.TS(created, loc), "", "", "", "", "", "", "", "",
			xcn(author, d.AuthorName), "", "", "", "", "",
			hl7v2.TS(d.ApprovedAt, loc), "", "PHY", status),
	}
	// Heading, note and footer go in consecutive OBX segments of the same
	// observation (sub-ids 1 to 3), so the approved text travels alone and
	// unaltered in sub-id 2 while the inbox shows all three in order.
	heading, body, footer := renderParts(d, patient, loc)
	for i, part := range []string{heading, body, footer} {
		n := strconv.Itoa(i + 1)
		m = append(m, hl7v2.Segment("OBX", n, "FT", noteType, n,
			hl7v2.FT(part), "", "", "", "", "", status, "", "",
			hl7v2.TS(created, loc)))
	}
	return m
}

// pid3 is the patient identifier list. HL7 Australia carries the IHI with
// assigning authority AUSHIC and identifier type NI, the Medicare number
// with AUSHIC and MC; a Bp Premier internal id is a PI (patient internal
// identifier) assigned by the receiving application.
func pid3(r auident.Ref, receivingApp string) string {
	switch r.Kind {
	case auident.IHI:
		return hl7v2.Escape(r.Value) + "^^^AUSHIC^NI"
	case auident.Medicare:
		return hl7v2.Escape(r.Value) + "^^^AUSHIC^MC"
	}
	return hl7v2.Escape(r.Value) + "^^^" + hl7v2.Escape(receivingApp) + "^PI"
}

// xcn is the author as an extended composite name: an HPI-I is carried with
// assigning authority AUSHIC and type NPI (national provider identifier);
// the display name goes whole in the family-name component because the
// gateway has no structured name.
func xcn(r auident.Ref, name string) string {
	if r.Value == "" && name == "" {
		return ""
	}
	s := hl7v2.Escape(r.Value) + "^" + hl7v2.Escape(name)
	if r.Kind == auident.HPII {
		s += "^^^^^^^AUSHIC^^^^NPI"
	}
	return s
}

func cwe(code, text, system string) string {
	return hl7v2.Escape(code) + "^" + hl7v2.Escape(text) + "^" + system
}
