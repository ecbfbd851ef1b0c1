package hl7v2

import (
	"strings"
	"testing"
	"time"
)

func TestEscapeRoundTrip(t *testing.T) {
	for _, s := range []string{
		"plain", `a|b^c&d~e\f`, `\F\ literally`, "tab\tkept", "ünïcode ✓", `trailing \`,
	} {
		e := Escape(s)
		if strings.ContainsAny(e, "|^&~") {
			t.Errorf("Escape(%q) = %q keeps a delimiter", s, e)
		}
		if got := Unescape(e); got != s {
			t.Errorf("Unescape(Escape(%q)) = %q", s, got)
		}
	}
	if got := Escape("line\r\nbreak\x00bell\x07"); got != "line  breakbell" {
		t.Errorf("Escape dropped control characters as %q", got)
	}
	if got := Unescape(`keep \X0D\ and \unclosed`); got != `keep \X0D\ and \unclosed` {
		t.Errorf("Unescape of unknown sequences = %q", got)
	}
}

func TestFT(t *testing.T) {
	s := "S: pain | 3/10\r\nP: rest\n\nreview"
	ft := FT(s)
	if ft != `S: pain \F\ 3/10\.br\P: rest\.br\\.br\review` {
		t.Errorf("FT = %q", ft)
	}
	if got := Unescape(ft); got != strings.ReplaceAll(s, "\r\n", "\n") {
		t.Errorf("Unescape(FT) = %q", got)
	}
}

func TestFields(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"Jane Citizen", "Citizen^Jane^^^^^L"},
		{"Jane Mary  Citizen", "Citizen^Jane Mary^^^^^L"},
		{"van der Berg, Anna", "van der Berg^Anna^^^^^L"},
		{"Madonna", "Madonna^^^^^^L"},
		{"O'Brien^Sean", `O'Brien\S\Sean^^^^^^L`},
		{"  ", ""},
	} {
		if got := XPN(tt.in); got != tt.want {
			t.Errorf("XPN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if DT("1980-02-29") != "19800229" || DT("29/02/1980") != "" || DT("") != "" {
		t.Error("DT")
	}
	if Sex("female") != "F" || Sex("male") != "M" || Sex("other") != "O" || Sex("unknown") != "U" || Sex("F") != "" {
		t.Error("Sex")
	}
	syd, _ := time.LoadLocation("Australia/Sydney")
	if got := TS(time.Date(2025, 3, 2, 3, 6, 0, 0, time.UTC), syd); got != "20250302140600+1100" {
		t.Errorf("TS = %q", got)
	}
	if TS(time.Time{}, syd) != "" {
		t.Error("zero TS not empty")
	}
}

func TestControlID(t *testing.T) {
	a, b := ControlID("note-7f3a-v1"), ControlID("note-7f3a-v2")
	if len(a) != 20 || a == b || ControlID("note-7f3a-v1") != a {
		t.Errorf("ControlID: %q, %q: want 20 characters, stable, different per version", a, b)
	}
	if strings.ContainsAny(a, `|^~\&`) {
		t.Errorf("ControlID %q needs escaping", a)
	}
}

func TestParse(t *testing.T) {
	m := Message{Segment("MSH", Encoding, "APP", "FAC", "", "", "20250302", "", "ACK", "1", "P", "2.5.1"), Segment("MSA", "AA", "1", Escape("ok | fine"))}
	p, order, err := Parse(m.String())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "MSH,MSA" || p.Field("MSH", 1) != "|" || p.Field("MSH", 2) != Encoding || p.Field("MSH", 10) != "1" || p.Field("MSA", 1) != "AA" {
		t.Errorf("Parse = %q, %v", p, order)
	}
	if Unescape(p.Field("MSA", 3)) != "ok | fine" || p.Field("MSA", 9) != "" || p.Field("ERR", 1) != "" {
		t.Error("Field")
	}
	if Component("205^Duplicate key\\T\\id^HL70357", 2) != "Duplicate key&id" || Component("a", 3) != "" {
		t.Error("Component")
	}
	for _, bad := range []string{"", "PID|1", "MSH|^~\\&|x\rbad segment", "MSH|#~\\&|x", "MSH|^~\\&|x\rPi|1"} {
		if _, _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
