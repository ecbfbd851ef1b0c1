package notes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuiltinsValid(t *testing.T) {
	want := map[string]string{
		TemplateSOAP: "11506-3", TemplateHP: "34117-2", TemplateProgress: "11506-3",
		TemplateConsult: "11488-4", TemplatePatientInstructions: "69730-0",
	}
	ts, err := NewTemplates(true, "", Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	all := ts.All()
	if len(all) != len(want) {
		t.Fatalf("got %d built-ins, want %d", len(all), len(want))
	}
	for _, tpl := range all {
		if err := ValidateTemplate(tpl); err != nil {
			t.Errorf("built-in %s: %v", tpl.ID, err)
		}
		if tpl.LOINC != want[tpl.ID] {
			t.Errorf("built-in %s: LOINC %s, want %s", tpl.ID, tpl.LOINC, want[tpl.ID])
		}
		for _, s := range tpl.Sections {
			if s.Instructions == "" {
				t.Errorf("built-in %s section %s has no instructions", tpl.ID, s.ID)
			}
		}
	}
}

func TestValidLOINC(t *testing.T) {
	for code, ok := range map[string]bool{
		"11506-3": true, "11488-4": true, "34117-2": true, "18842-5": true, "69730-0": true, "28570-0": true,
		"11506-4": false, "11506": false, "1150a-3": false, "": false, "34117-12": false,
	} {
		if got := ValidLOINC(code); got != ok {
			t.Errorf("ValidLOINC(%q) = %v, want %v", code, got, ok)
		}
	}
}

func TestLoadCustomTemplates(t *testing.T) {
	ts, err := NewTemplates(true, "testdata/templates", Defaults{
		Clinics:    map[string]string{"clinic-a": "physio", "clinic-b": TemplateHP},
		Clinicians: map[string]string{"dr-who": TemplateConsult},
	})
	if err != nil {
		t.Fatal(err)
	}
	physio, err := ts.Get("physio")
	if err != nil {
		t.Fatal(err)
	}
	if len(physio.Sections) != 4 || physio.Sections[1].Title != "Function and goals" {
		t.Errorf("physio template loaded wrong: %+v", physio)
	}
	soap, _ := ts.Get(TemplateSOAP)
	if soap.Name != "SOAP (clinic)" || len(soap.Sections) != 3 {
		t.Errorf("file soap should replace the built-in, got %+v", soap)
	}
	if _, err := ts.Get("nope"); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("Get(nope) error = %v, want ErrUnknownTemplate", err)
	}
	for _, c := range []struct{ clinic, clinician, want string }{
		{"clinic-a", "dr-who", TemplateConsult}, // clinician wins
		{"clinic-a", "dr-no", "physio"},
		{"clinic-b", "", TemplateHP},
		{"clinic-z", "dr-no", TemplateSOAP},
		{"", "", TemplateSOAP},
	} {
		if got := ts.Default(c.clinic, c.clinician).ID; got != c.want {
			t.Errorf("Default(%q, %q) = %s, want %s", c.clinic, c.clinician, got, c.want)
		}
	}
	// Templates handed out are copies: changing one leaves the set alone.
	physio.Sections[0].Title = "changed"
	if again, _ := ts.Get("physio"); again.Sections[0].Title == "changed" {
		t.Error("Get returned a template sharing sections with the set")
	}
}

func TestTemplateErrors(t *testing.T) {
	good := "id: x\nname: X\nloinc: 11506-3\nsections:\n  - id: a\n    title: A\n"
	cases := []struct {
		name, yaml, code, msg string
	}{
		{"unknown key", good + "    keywords: [a]\n", "template_parse", "keywords"},
		{"unknown top key", "colour: red\n" + good, "template_parse", "colour"},
		{"no sections", "id: x\nname: X\nloinc: 11506-3\nsections: []\n", "template_invalid", "no sections"},
		{"duplicate section", good + "  - id: a\n    title: Again\n", "template_invalid", "used twice"},
		{"bad loinc", strings.Replace(good, "11506-3", "11506-4", 1), "template_invalid", "LOINC"},
		{"bad id", strings.Replace(good, "id: x", "id: X Y", 1), "template_invalid", "id"},
		{"empty title", strings.Replace(good, "title: A", "title: ''", 1), "template_invalid", "no title"},
		{"empty", "", "template_parse", "empty"},
		{"two documents", good + "---\n" + good, "template_parse", "more than one"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "t.yaml"), []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := NewTemplates(true, dir, Defaults{})
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error = %v, want *TemplateError", err)
			}
			if te.Code != c.code || !strings.Contains(err.Error(), c.msg) || te.Path == "" {
				t.Errorf("error = %v (code %s), want code %s mentioning %q and the file", err, te.Code, c.code, c.msg)
			}
		})
	}
	t.Run("duplicate id across files", func(t *testing.T) {
		dir := t.TempDir()
		for _, n := range []string{"a.yaml", "b.yml"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte(good), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := NewTemplates(false, dir, Defaults{})
		var te *TemplateError
		if !errors.As(err, &te) || te.Code != "template_duplicate" {
			t.Errorf("error = %v, want template_duplicate", err)
		}
	})
	t.Run("default names unknown template", func(t *testing.T) {
		_, err := NewTemplates(true, "", Defaults{Clinics: map[string]string{"c": "missing"}})
		if !errors.Is(err, ErrUnknownTemplate) {
			t.Errorf("error = %v, want ErrUnknownTemplate", err)
		}
	})
	t.Run("nothing at all", func(t *testing.T) {
		if _, err := NewTemplates(false, "", Defaults{}); err == nil {
			t.Error("an empty template set was accepted")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if _, err := NewTemplates(true, filepath.Join(t.TempDir(), "none"), Defaults{}); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error = %v, want os.ErrNotExist", err)
		}
	})
}

func TestDefaultWithoutSOAP(t *testing.T) {
	ts, err := NewTemplates(false, "testdata/templates", Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	// The directory defines its own soap, which is the fallback.
	if got := ts.Default("", "").Name; got != "SOAP (clinic)" {
		t.Errorf("Default = %s, want the clinic's SOAP", got)
	}
}
