package notes

import "testing"

func TestNormalizeNumbers(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// Cardinals.
		{"twenty five", "25"},
		{"twenty-five milligrams", "25 milligrams"},
		{"one hundred and twenty pounds", "120 pounds"},
		{"a hundred and ten", "110"},
		{"two thousand twenty two", "2022"},
		{"zero", "0"},
		{"he is seventy two", "he is 72"},
		// Spoken pairs: blood pressure and the like.
		{"one sixteen over eighty four", "116/84"},
		{"one ten over seventy four", "110/74"},
		{"one twenty two over seventy", "122/70"},
		{"two hundred over ninety", "200/90"},
		{"a two over six systolic murmur", "a 2/6 systolic murmur"},
		{"120 over 80", "120/80"},
		{"two fifty milligrams", "250 milligrams"},
		// Decimals.
		{"ninety eight point six", "98.6"},
		{"98 point 6", "98.6"},
		{"zero point four milligrams", "0.4 milligrams"},
		{"measuring point five centimeters", "measuring 0.5 centimeters"},
		{"a1c of seven point two", "a1c of 7.2"},
		{"98.6", "98.6"},
		// Digit sequences.
		{"call nine one one", "call 911"},
		{"two oh five", "205"},
		// Fractions.
		{"two and a half weeks", "2.5 weeks"},
		{"one third of the time", "1/3 of the time"},
		{"three quarters", "3/4"},
		// Ranges stay ranges of digits.
		{"five to ten days", "5 to 10 days"},
		{"between two and three", "between 2 and 3"},
		{"one or two tablets", "1 or 2 tablets"},
		{"in the two hundred's or three hundred's", "in the 200's or 300's"},
		// Times.
		{"seven thirty pm", "7:30 pm"},
		{"at seven thirty in the morning", "at 7:30 in the morning"},
		{"twelve fifteen a.m.", "12:15 a.m."},
		{"seven am", "7 am"},
		// Ordinals.
		{"the twenty first", "the 21st"},
		{"his fourth visit", "his 4th visit"},
		{"march third", "march 3rd"},
		{"at first", "at first"},
		{"a second opinion", "a second opinion"},
		// Percentages.
		{"fifty percent", "50%"},
		{"ninety eight per cent", "98%"},
		{"50 percent", "50%"},
		// Words that stay words.
		{"one of them", "one of them"},
		{"one tablet", "1 tablet"},
		{"no one knows", "no one knows"},
		{"twice daily", "twice daily"},
		{"two times a day", "2 times a day"},
		{"at one point", "at one point"},
		{"at this point two things", "at this point 2 things"},
		{"someone often", "someone often"},
		{"Ninety Eight", "98"},
		{"ten, twenty", "10, 20"},
	} {
		if got := NormalizeNumbers(c.in); got != c.want {
			t.Errorf("NormalizeNumbers(%q) = %q, want %q", c.in, got, c.want)
		}
		// Normalised text is stable: digits stay as they are.
		if got := NormalizeNumbers(c.want); got != c.want {
			t.Errorf("NormalizeNumbers(%q) (the normalised form) = %q, want it unchanged", c.want, got)
		}
	}
}

func TestSplitNeverCutsANumber(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"My temperature was 98. 6 this morning. It went down.", []string{"My temperature was 98.6 this morning.", "It went down."}},
		{"it was ninety eight point. six last night. fine now", []string{"it was ninety eight point six last night.", "fine now"}},
		{"I am 45. Two kids at home.", []string{"I am 45.", "Two kids at home."}},
		{"it does show a . five centimeter kidney stone. okay", []string{"it does show a 0.5 centimeter kidney stone.", "okay"}},
		{"he gave me an . 5 mg tablet", []string{"he gave me an 0.5 mg tablet"}},
		{"i want a. Five of them are here.", []string{"i want a.", "Five of them are here."}},
	} {
		got := splitSentences(c.in)
		if len(got) != len(c.want) {
			t.Errorf("splitSentences(%q) = %q, want %q", c.in, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("splitSentences(%q) = %q, want %q", c.in, got, c.want)
				break
			}
		}
	}
}
