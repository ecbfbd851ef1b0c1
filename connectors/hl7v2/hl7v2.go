// Package hl7v2 writes and reads the HL7 version 2 messages scribegate's
// connectors exchange: Best Practice's inbox files (ORU^R01, v2.4) and the
// mllp connector's MDM^T02/T10 (v2.5.1) with their acknowledgements. It is
// the encoding rules, not a message model: segments are built as field
// lists by the connector that knows its profile, escaped here, and read
// back by Parse for acknowledgements and tests.
//
// Why our own: no Go HL7 v2 library can be fetched through the module
// proxy this project builds with (every candidate is refused), and the
// part a sender needs — the delimiters, the escape sequences of HL7 v2.5
// section 2.7, the TS/DT/XPN formats and a reader for ACK — is small.
// Sources: HL7 v2.4 and v2.5.1 chapter 2 (control: message construction
// rules, escape sequences, data types), chapter 9 (medical records: MDM),
// HL7 Australia's ADRM localisation (HL7AUSD-STD-OO-ADRM-2021.1) for the
// Australian identifiers.
package hl7v2

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"
)

// The standard delimiters, as MSH-1 and MSH-2 declare them.
const (
	FieldSep      = '|'
	Encoding      = `^~\&`
	SegmentSep    = "\r"
	componentSep  = '^'
	repetitionSep = '~'
	escapeChar    = '\\'
	subcompSep    = '&'
)

// Message is an HL7 v2 message as its segments, each already joined from
// escaped fields. String separates them with carriage returns, as HL7 v2
// requires, and ends with one.
type Message []string

func (m Message) String() string { return strings.Join(m, SegmentSep) + SegmentSep }

// Segment joins already-escaped fields into one segment; fields[0] is
// field 1. For MSH, fields[0] is MSH-2 (the encoding characters): MSH-1 is
// the field separator itself.
func Segment(name string, fields ...string) string {
	return name + string(FieldSep) + strings.Join(fields, string(FieldSep))
}

// Escape makes s safe inside a field or component: the delimiters become
// the escape sequences of HL7 v2.5 section 2.7 (\F\ \S\ \T\ \R\ \E\),
// line breaks become spaces and other control characters are dropped.
// Text that must keep its lines goes through FT or Lines instead.
func Escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case escapeChar:
			b.WriteString(`\E\`)
		case FieldSep:
			b.WriteString(`\F\`)
		case componentSep:
			b.WriteString(`\S\`)
		case subcompSep:
			b.WriteString(`\T\`)
		case repetitionSep:
			b.WriteString(`\R\`)
		case '\r', '\n':
			b.WriteByte(' ')
		default:
			if r < 0x20 && r != '\t' || r == 0x7f {
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Lines splits text into its lines (CRLF, CR and LF all end one), for
// senders that put one line in each OBX (value type TX).
func Lines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}

// FT renders text as a formatted-text (FT) value: escaped, each line break
// as the \.br\ formatting command.
func FT(s string) string {
	lines := Lines(s)
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, `\.br\`)
}

// Unescape reverses Escape and FT (\.br\ becomes a line feed). Escape
// sequences it does not know are kept as they are.
func Unescape(s string) string {
	if !strings.ContainsRune(s, escapeChar) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, escapeChar)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i+1:], escapeChar)
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		seq := s[i+1 : i+1+j]
		switch seq {
		case "F":
			b.WriteByte(FieldSep)
		case "S":
			b.WriteByte(componentSep)
		case "T":
			b.WriteByte(subcompSep)
		case "R":
			b.WriteByte(repetitionSep)
		case "E":
			b.WriteByte(escapeChar)
		case ".br":
			b.WriteByte('\n')
		default:
			b.WriteString(s[i : i+j+2])
		}
		s = s[i+j+2:]
	}
}

// TS is a timestamp (TS/DTM) to the second with the zone offset, in loc.
// The zero time is an empty field.
func TS(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("20060102150405-0700")
}

// DT turns a FHIR date (YYYY-MM-DD) into an HL7 date (YYYYMMDD); anything
// else is an empty field.
func DT(date string) string {
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return ""
	}
	return t.Format("20060102")
}

// Sex maps a FHIR administrative gender to HL7 table 0001 (M, F, O, U).
func Sex(gender string) string {
	switch gender {
	case "male":
		return "M"
	case "female":
		return "F"
	case "other":
		return "O"
	case "unknown":
		return "U"
	}
	return ""
}

// XPN is a person's name as an extended person name with name type L
// (legal): family^given. The gateway holds a name as one string; "Family,
// Given Names" is split at the comma, otherwise the last word is taken as
// the family name ("Jane Mary Citizen" → Citizen^Jane Mary). Empty in,
// empty out.
func XPN(name string) string {
	name = strings.Join(strings.Fields(name), " ")
	if name == "" {
		return ""
	}
	var family, given string
	if f, g, ok := strings.Cut(name, ","); ok {
		family, given = strings.TrimSpace(f), strings.TrimSpace(g)
	} else if i := strings.LastIndexByte(name, ' '); i > 0 {
		family, given = name[i+1:], name[:i]
	} else {
		family = name
	}
	// XPN: family^given^second^suffix^prefix^degree^type (L legal).
	return Escape(family) + "^" + Escape(given) + "^^^^^L"
}

// ControlID is a message control id (MSH-10) for the document identifier
// ident: 20 characters (the v2.4 limit), derived from ident alone, so a
// resend of one document carries the same id and a receiver that keeps
// the ids it processed can drop it, while two documents (two versions of
// one note included) never share one.
func ControlID(ident string) string {
	sum := sha256.Sum256([]byte(ident))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])[:20]
}

// Parsed is a message read back: each segment's fields by number, so
// Parsed["PID"][0][5] is PID-5 of the first PID (for MSH, index 1 is the
// field separator and 2 the encoding characters, as the standard numbers
// them). Fields are not unescaped.
type Parsed map[string][][]string

// Field returns field n of the first segment named seg, or "" when there
// is none.
func (p Parsed) Field(seg string, n int) string {
	s := p[seg]
	if len(s) == 0 || n >= len(s[0]) {
		return ""
	}
	return s[0][n]
}

// Parse reads a message with the standard delimiters into its segments and
// the order they came in. It checks what every message must have: an MSH
// first with this package's delimiters, and segment names of three
// upper-case letters or digits.
func Parse(msg string) (Parsed, []string, error) {
	msg = strings.TrimRight(strings.ReplaceAll(msg, "\n", "\r"), "\r")
	if !strings.HasPrefix(msg, "MSH"+string(FieldSep)+Encoding+string(FieldSep)) {
		return nil, nil, fmt.Errorf("hl7v2: message does not start with MSH and the standard delimiters")
	}
	out := Parsed{}
	var order []string
	for _, s := range strings.Split(msg, SegmentSep) {
		if s == "" {
			continue
		}
		if len(s) < 3 || !segName(s[:3]) || len(s) > 3 && s[3] != FieldSep {
			return nil, nil, fmt.Errorf("hl7v2: malformed segment %.20q", s)
		}
		f := strings.Split(s, string(FieldSep))
		if f[0] == "MSH" {
			f = append([]string{"MSH", string(FieldSep)}, f[1:]...)
		}
		out[f[0]] = append(out[f[0]], f)
		order = append(order, f[0])
	}
	return out, order, nil
}

func segName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

// Component returns component n (1-based) of a field, unescaped.
func Component(field string, n int) string {
	parts := strings.Split(field, string(componentSep))
	if n < 1 || n > len(parts) {
		return ""
	}
	return Unescape(parts[n-1])
}
