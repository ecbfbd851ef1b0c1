package bestpractice

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/auident"
)

// hl7Header names the parties in MSH-3..6 and OBR-3. HL7 Australia
// (HL7au:000002) asks that a document identifier's namespace be fully
// valued, so the sending facility doubles as OBR-3's universal id.
type hl7Header struct {
	SendingApplication   string
	SendingFacility      string
	ReceivingApplication string
	ReceivingFacility    string
}

// hl7Message is one ORU^R01 result message carrying a note, built from a
// Document; String renders it with segments separated by carriage returns,
// as HL7 v2 requires.
type hl7Message struct {
	segments []string
}

func (m hl7Message) String() string { return strings.Join(m.segments, "\r") + "\r" }

// buildORU builds the ORU^R01 message for d. The message control id (MSH-10)
// and the document identifier (OBR-3) are both the note identifier, so a
// receiver, and our inbox ledger, recognise a resend as the same document.
// An amendment is sent with result status C (correction) per HL7 v2.4
// table 0123; its OBR-3 is the new identifier and the text says which
// version it replaces.
func buildORU(d *connectors.Document, patient auident.Ref, author auident.Ref, h hl7Header, loc *time.Location, now time.Time) hl7Message {
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

	var m hl7Message
	m.segments = append(m.segments, seg("MSH", `^~\&`,
		esc(h.SendingApplication), esc(h.SendingFacility),
		esc(h.ReceivingApplication), esc(h.ReceivingFacility),
		ts(now, loc), "", "ORU^R01^ORU_R01", esc(id), "P",
		"2.4^AUS&&ISO3166_1", "", "", "AL", "NE", "AUS", "UNICODE UTF-8"))
	m.segments = append(m.segments, seg("PID", "1", "", pid3(patient, h.ReceivingApplication)))
	m.segments = append(m.segments, seg("OBR", "1", "",
		esc(id)+"^"+esc(h.SendingApplication)+"^"+esc(h.SendingFacility)+"^L",
		noteType, "", "", ts(created, loc), "", "", "", "", "", "", "", "",
		xcn(author, d.AuthorName), "", "", "", "", "",
		ts(d.ApprovedAt, loc), "", "PHY", status))
	// Heading, note and footer go in consecutive OBX segments of the same
	// observation (sub-ids 1 to 3), so the approved text travels alone and
	// unaltered in sub-id 2 while the inbox shows all three in order.
	heading, body, footer := renderParts(d, patient, loc)
	for i, part := range []string{heading, body, footer} {
		n := strconv.Itoa(i + 1)
		m.segments = append(m.segments, seg("OBX", n, "FT", noteType, n,
			ftText(part), "", "", "", "", "", status, "", "",
			ts(created, loc)))
	}
	return m
}

// seg joins fields into one segment. fields[0] after the name is field 1
// (for MSH, the encoding characters are MSH-2 and the separator is MSH-1).
func seg(name string, fields ...string) string {
	if name == "MSH" {
		return "MSH|" + strings.Join(fields, "|")
	}
	return name + "|" + strings.Join(fields, "|")
}

// pid3 is the patient identifier list. HL7 Australia carries the IHI with
// assigning authority AUSHIC and identifier type NI, the Medicare number
// with AUSHIC and MC; a Bp Premier internal id is a PI (patient internal
// identifier) assigned by the receiving application.
func pid3(r auident.Ref, receivingApp string) string {
	switch r.Kind {
	case auident.IHI:
		return esc(r.Value) + "^^^AUSHIC^NI"
	case auident.Medicare:
		return esc(r.Value) + "^^^AUSHIC^MC"
	}
	return esc(r.Value) + "^^^" + esc(receivingApp) + "^PI"
}

// xcn is the author as an extended composite name: an HPI-I is carried with
// assigning authority AUSHIC and type NPI (national provider identifier);
// the display name goes whole in the family-name component because the
// gateway has no structured name.
func xcn(r auident.Ref, name string) string {
	if r.Value == "" && name == "" {
		return ""
	}
	s := esc(r.Value) + "^" + esc(name)
	if r.Kind == auident.HPII {
		s += "^^^^^^^AUSHIC^^^^NPI"
	}
	return s
}

func cwe(code, text, system string) string {
	return esc(code) + "^" + esc(text) + "^" + system
}

// ts is an HL7 v2.4 TS with seconds and the zone offset, in the practice's
// time zone.
func ts(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("20060102150405-0700")
}

// esc escapes the HL7 delimiters (HL7 v2.4 section 2.7) and drops control
// characters; line breaks in text fields go through ftText instead.
func esc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\E\`)
		case '|':
			b.WriteString(`\F\`)
		case '^':
			b.WriteString(`\S\`)
		case '&':
			b.WriteString(`\T\`)
		case '~':
			b.WriteString(`\R\`)
		case '\r', '\n':
			b.WriteByte(' ')
		default:
			if r < 0x20 && r != '\t' {
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ftText renders text as an FT (formatted text) value: escaped, with each
// line break as the \.br\ formatting command.
func ftText(s string) string {
	lines := strings.Split(normaliseNewlines(s), "\n")
	for i, l := range lines {
		lines[i] = esc(l)
	}
	return strings.Join(lines, `\.br\`)
}

// unescapeFT reverses ftText: it is how tests, and Check, read a message
// back.
func unescapeFT(s string) string {
	r := strings.NewReplacer(`\.br\`, "\n", `\F\`, "|", `\S\`, "^", `\T\`, "&", `\R\`, "~", `\E\`, `\`)
	return r.Replace(s)
}

// parseHL7 splits a message into segments and fields, for reading our own
// messages back (ledger checks and tests); it is not a general HL7 parser.
func parseHL7(msg string) (map[string][][]string, error) {
	out := map[string][][]string{}
	for _, s := range strings.Split(strings.TrimRight(msg, "\r"), "\r") {
		if len(s) < 3 {
			return nil, fmt.Errorf("bestpractice: malformed HL7 segment %q", s)
		}
		f := strings.Split(s, "|")
		if f[0] == "MSH" {
			// Number MSH fields as the standard does: MSH-1 is "|".
			f = append([]string{"MSH", "|"}, f[1:]...)
		}
		out[f[0]] = append(out[f[0]], f)
	}
	if _, ok := out["MSH"]; !ok {
		return nil, fmt.Errorf("bestpractice: HL7 message has no MSH segment")
	}
	return out, nil
}
