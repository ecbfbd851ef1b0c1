package notes

import (
	"strings"
	"testing"
)

func TestDeidentifierRedact(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		known    []string
		want     string
	}{
		{"title names", "I'm Dr. Jones and this is Nurse Kelly.", nil, "I'm Dr. [NAME_1] and this is Nurse [NAME_2]."},
		{"title with full name", "Mrs Sarah O'Neill, come in.", nil, "Mrs [NAME_1], come in."},
		{"title then a common word", "Thanks Dr Okay so let's start.", nil, "Thanks Dr Okay so let's start."},
		{"known full name any case", "is that margaret thompson?", []string{"Margaret Thompson"}, "is that [NAME_1]?"},
		{"known parts capitalised", "Margaret, may I call you Maggie? Thompson is fine.", []string{"Margaret Thompson"}, "[NAME_1], may I call you Maggie? [NAME_2] is fine."},
		{"known part lower case is a word", "the rose garden, Rose", []string{"Rose Lee"}, "the rose garden, [NAME_1]"},
		{"adjacent known names", "Ann Lee and Lee Ann", []string{"Ann", "Lee"}, "[NAME_1] [NAME_2] and [NAME_2] [NAME_1]"},
		{"numeric dates", "Seen 12/03/2024 and 2024-03-12, again 3.4.24.", nil, "Seen [DATE_1] and [DATE_2], again [DATE_3]."},
		{"spoken dates", "Born on the 12th of March 1961, admitted March 3, 2020, review in June 2025.", nil, "Born on the [DATE_1], admitted [DATE_2], review in [DATE_3]."},
		{"phones", "Call 0412 345 678 or +61 2 9876 5432 or (02) 9876-5432.", nil, "Call [PHONE_1] or [PHONE_2] or [PHONE_3]."},
		{"email", "Write to j.smith+clinic@mail.example.com.au please.", nil, "Write to [EMAIL_1] please."},
		{"long identifiers", "IHI 8003608166690503, Medicare 2123 45670 1.", nil, "IHI [ID_1], Medicare [ID_2]."},
		{"labelled short MRN", "Her MRN is 483920.", nil, "Her MRN is [ID_1]."},
		{"same detail same placeholder", "Dr Lee said Dr Lee would call.", nil, "Dr [NAME_1] said Dr [NAME_1] would call."},
		{"clinical numbers kept", "BP 120/80, pulse 72, 500 mg twice a day for 3 weeks, 2.5 mmol/L, may cause nausea.", nil, "BP 120/80, pulse 72, 500 mg twice a day for 3 weeks, 2.5 mmol/L, may cause nausea."},
		{"years and months kept", "Since 2019 it gets worse in May.", nil, "Since 2019 it gets worse in May."},
		{"non-ASCII names", "Dr. Müller saw Zoë.", []string{"Zoë"}, "Dr. [NAME_1] saw [NAME_2]."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDeidentifier(tc.known...)
			got := d.Redact(tc.in)
			if got != tc.want {
				t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			back, ok := d.Restore(got)
			if back != tc.in || !ok {
				t.Errorf("Restore = %q, %v; want the original", back, ok)
			}
		})
	}
}

// TestDeidentifierConsultation redacts a whole consultation with one
// Deidentifier, as the drafter does: placeholders stay stable across
// utterances, a name learnt from a title later is redacted earlier too, and
// text written with the placeholders comes back with the details.
func TestDeidentifierConsultation(t *testing.T) {
	utts := []string{
		"Hello, is it Okafor? Take a seat.",
		"Yes. I saw Dr. Haddad on 4 May 2024 about this.",
		"Right, Mr. Okafor. Your number is still 0400 111 222?",
		"Yes, 0400 111 222. Dr. Haddad said to come back.",
	}
	d := NewDeidentifier()
	for _, u := range utts {
		d.Observe(u)
	}
	var red []string
	for _, u := range utts {
		red = append(red, d.Redact(u))
	}
	joined := strings.Join(red, "\n")
	for _, s := range []string{"Okafor", "Haddad", "4 May 2024", "0400 111 222"} {
		if strings.Contains(joined, s) {
			t.Errorf("%q survived redaction:\n%s", s, joined)
		}
	}
	if strings.Count(joined, "[PHONE_1]") != 2 || strings.Count(joined, "[NAME_1]") != 2 || strings.Count(joined, "[NAME_2]") != 2 {
		t.Errorf("placeholders not stable across utterances:\n%s", joined)
	}
	for i, r := range red {
		if back, ok := d.Restore(r); back != utts[i] || !ok {
			t.Errorf("utterance %d: Restore = %q, %v", i, back, ok)
		}
	}
	note := "Mr. [NAME_1] saw Dr. [NAME_2] on [DATE_1]; contact [PHONE_1]."
	want := "Mr. Okafor saw Dr. Haddad on 4 May 2024; contact 0400 111 222."
	if got, ok := d.Restore(note); got != want || !ok {
		t.Errorf("Restore(%q) = %q, %v; want %q", note, got, ok, want)
	}
	if got, ok := d.Restore("Seen by [NAME_9] and [ID_1]."); ok || got != "Seen by [NAME_9] and [ID_1]." {
		t.Errorf("unknown placeholders: %q, %v; want them kept and ok false", got, ok)
	}
}

func BenchmarkDeidentifierRedact(b *testing.B) {
	d := NewDeidentifier("Margaret Thompson", "Priya Natarajan")
	text := "Margaret, Dr. Jones here; your Medicare number 2123 45670 1 and the appointment on 12 March 2024 are confirmed, BP 120/80."
	for b.Loop() {
		d.Redact(text)
	}
}
