package mllptest

import (
	"fmt"
	"regexp"
	"strings"
)

// validate parses msg on its own terms (HL7 v2.5.1 chapter 2: segments
// end with CR, MSH-1 "|", MSH-2 "^~\&") and checks the MDM^T02/T10
// structure of chapter 9: MSH EVN PID PV1 TXA {OBX [{NTE}]}, the fields
// the standard makes required, and well-formed escapes. It returns the
// segments (fields split, MSH numbered as the standard does) and the
// document they carry.
func validate(msg string) ([][]string, Document, error) {
	var segs [][]string
	if strings.Contains(msg, "\n") {
		return nil, Document{}, fmt.Errorf("segments must end with CR only; found LF")
	}
	if !strings.HasSuffix(msg, "\r") {
		return nil, Document{}, fmt.Errorf("the last segment is not terminated by CR")
	}
	for _, s := range strings.Split(strings.TrimSuffix(msg, "\r"), "\r") {
		f := strings.Split(s, "|")
		if f[0] == "MSH" {
			f = append([]string{"MSH", "|"}, f[1:]...)
		}
		segs = append(segs, f)
	}
	doc := Document{Segments: segs, Raw: msg}
	fail := func(format string, args ...any) ([][]string, Document, error) {
		return segs, doc, fmt.Errorf(format, args...)
	}
	msh := segs[0]
	if msh[0] != "MSH" || len(msh) < 12 || msh[2] != `^~\&` {
		return fail("the message must start with MSH|^~\\&")
	}
	get := func(seg []string, n int) string {
		if n < len(seg) {
			return seg[n]
		}
		return ""
	}
	switch get(msh, 9) {
	case "MDM^T02^MDM_T02":
		doc.Event = "T02"
	case "MDM^T10^MDM_T02":
		doc.Event = "T10"
	default:
		return fail("MSH-9 %q: want MDM^T02^MDM_T02 or MDM^T10^MDM_T02", get(msh, 9))
	}
	if ctrl := get(msh, 10); ctrl == "" || len(ctrl) > 20 {
		return fail("MSH-10 (message control id) must be 1 to 20 characters, is %d", len(ctrl))
	}
	if p := get(msh, 11); p != "P" && p != "T" && p != "D" {
		return fail("MSH-11 (processing id) %q", p)
	}
	if get(msh, 12) != "2.5.1" {
		return fail("MSH-12 (version) %q, want 2.5.1", get(msh, 12))
	}
	if !tsRE.MatchString(get(msh, 7)) {
		return fail("MSH-7 (date/time of message) %q is not a TS", get(msh, 7))
	}

	// Structure: MSH EVN PID PV1 TXA, then one or more OBX, each followed
	// by optional NTEs.
	want := []string{"MSH", "EVN", "PID", "PV1", "TXA"}
	for i, name := range want {
		if i >= len(segs) || segs[i][0] != name {
			return fail("segment %d must be %s", i+1, name)
		}
	}
	rest := segs[len(want):]
	if len(rest) == 0 || rest[0][0] != "OBX" {
		return fail("TXA must be followed by at least one OBX")
	}
	for i, s := range rest {
		if s[0] != "OBX" && s[0] != "NTE" {
			return fail("segment %s after the OBX group", s[0])
		}
		if s[0] == "OBX" && get(s, 1) != fmt.Sprint(countOBX(rest[:i+1])) {
			return fail("OBX-1 (set id) %q out of sequence", get(s, 1))
		}
	}
	evn, pid, pv1, txa := segs[1], segs[2], segs[3], segs[4]
	if get(evn, 1) != doc.Event || !tsRE.MatchString(get(evn, 2)) {
		return fail("EVN-1 must repeat the event %s and EVN-2 be a TS", doc.Event)
	}
	if get(pid, 3) == "" || strings.HasPrefix(get(pid, 3), "^") {
		return fail("PID-3 (patient identifier list) is required")
	}
	if n := get(pid, 5); n != "" && !strings.Contains(n, "^") {
		return fail("PID-5 %q is not family^given", n)
	}
	if dob := get(pid, 7); dob != "" && !dateRE.MatchString(dob) {
		return fail("PID-7 (date of birth) %q is not YYYYMMDD", dob)
	}
	if sex := get(pid, 8); sex != "" && !strings.Contains("MFOUANC", sex) || len(get(pid, 8)) > 1 {
		return fail("PID-8 (administrative sex) %q is not in table 0001", get(pid, 8))
	}
	if get(pv1, 2) == "" {
		return fail("PV1-2 (patient class) is required")
	}
	if get(txa, 2) == "" {
		return fail("TXA-2 (document type) is required")
	}
	if get(txa, 12) == "" {
		return fail("TXA-12 (unique document number) is required")
	}
	if get(txa, 17) == "" {
		return fail("TXA-17 (document completion status) is required")
	}
	doc.Number = strings.Split(get(txa, 12), "^")[0]
	doc.Parent = strings.Split(get(txa, 13), "^")[0]
	if doc.Event == "T10" && doc.Parent == "" {
		return fail("T10 (document replacement) needs TXA-13 (parent document number)")
	}
	if doc.Event == "T02" && doc.Parent != "" {
		return fail("T02 (original document) has a parent document number")
	}
	for _, s := range rest {
		if s[0] != "OBX" {
			continue
		}
		if get(s, 2) == "" || get(s, 3) == "" || get(s, 11) == "" {
			return fail("OBX-2 (value type), OBX-3 (identifier) and OBX-11 (status) are required")
		}
	}
	for _, s := range segs {
		for i, f := range s {
			if s[0] == "MSH" && i <= 2 {
				continue
			}
			if err := checkEscapes(f); err != nil {
				return fail("%s-%d: %v", s[0], i, err)
			}
		}
	}
	return segs, doc, nil
}

var (
	tsRE   = regexp.MustCompile(`^\d{14}([+-]\d{4})?$`)
	dateRE = regexp.MustCompile(`^\d{8}$`)
)

func countOBX(segs [][]string) int {
	n := 0
	for _, s := range segs {
		if s[0] == "OBX" {
			n++
		}
	}
	return n
}

// checkEscapes checks that every escape character starts a known escape
// sequence of HL7 v2.5.1 section 2.7 and is closed.
func checkEscapes(f string) error {
	for {
		i := strings.IndexByte(f, '\\')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(f[i+1:], '\\')
		if j < 0 {
			return fmt.Errorf("unclosed escape sequence")
		}
		switch seq := f[i+1 : i+1+j]; {
		case seq == "F", seq == "S", seq == "T", seq == "R", seq == "E", seq == ".br",
			strings.HasPrefix(seq, "X"), strings.HasPrefix(seq, "H"), strings.HasPrefix(seq, "N"):
		default:
			return fmt.Errorf("unknown escape sequence \\%s\\", seq)
		}
		f = f[i+j+2:]
	}
}

// Text is the document's text: OBX-5 of every OBX, unescaped, one line
// each.
func (d Document) Text() string {
	var lines []string
	for _, s := range d.Segments {
		if s[0] == "OBX" && len(s) > 5 {
			lines = append(lines, unescape(s[5]))
		}
	}
	return strings.Join(lines, "\n")
}

// unescape reverses the escape sequences of HL7 v2.5.1 section 2.7 that a
// text value may carry.
func unescape(s string) string {
	return strings.NewReplacer(`\F\`, "|", `\S\`, "^", `\T\`, "&", `\R\`, "~", `\E\`, `\`, `\.br\`, "\n").Replace(s)
}
