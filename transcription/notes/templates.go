package notes

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Built-in template ids. Clients name templates by these, so they never
// change.
const (
	TemplateSOAP                = "soap"
	TemplateHP                  = "hp"
	TemplateProgress            = "progress"
	TemplateConsult             = "consult"
	TemplatePatientInstructions = "patient_instructions"
)

// builtinFS holds the templates every gateway offers, one YAML file each
// in the form a clinic's own templates take, so an operator can copy one
// as the start of a house style. Their instructions double as the prompt
// an LLM drafter writes each section from, so they say plainly what
// belongs in the section and what does not.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

// builtinOrder is the order the built-ins are offered in.
var builtinOrder = []string{TemplateSOAP, TemplateHP, TemplateProgress, TemplateConsult, TemplatePatientInstructions}

// builtins parses the built-in templates with the parser custom templates
// go through. They ship inside the binary and every test of the package
// reads them, so a broken one is a build defect and panics.
func builtins() []Template {
	out := make([]Template, 0, len(builtinOrder))
	for _, id := range builtinOrder {
		data, err := builtinFS.ReadFile("builtin/" + id + ".yaml")
		if err != nil {
			panic(fmt.Sprintf("notes: built-in template %q: %v", id, err))
		}
		t, err := ParseTemplate(data)
		if err != nil {
			panic(fmt.Sprintf("notes: built-in template %q: %v", id, err))
		}
		out = append(out, t)
	}
	return out
}

// Defaults say which template a clinic or clinician drafts with when a
// session names none, so each clinic can keep its own house style.
type Defaults struct {
	// Clinics maps a clinic id to a template id.
	Clinics map[string]string `json:"clinics,omitempty" yaml:"clinics"`
	// Clinicians maps a clinician id to a template id; it wins over the
	// clinic's default.
	Clinicians map[string]string `json:"clinicians,omitempty" yaml:"clinicians"`
}

// ErrUnknownTemplate is returned (wrapped) when a template id names no
// template, so the gateway can answer with a 400 rather than a 500.
var ErrUnknownTemplate = errors.New("notes: unknown template")

// TemplateError reports a custom template that cannot be used, naming the
// file so an operator can fix it. Code is stable for callers and logs.
type TemplateError struct {
	// Path is the file the template came from ("" for defaults).
	Path string
	// Code is a stable machine-readable reason: "template_parse",
	// "template_invalid", "template_duplicate" or "template_default".
	Code string
	Err  error
}

func (e *TemplateError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("notes: %s: %v", e.Code, e.Err)
	}
	return fmt.Sprintf("notes: %s: %s: %v", e.Code, e.Path, e.Err)
}

func (e *TemplateError) Unwrap() error { return e.Err }

// Templates is the set of templates a gateway offers: the built-ins, a
// clinic's own from YAML files, and who defaults to which. It is read-only
// after construction and safe for concurrent use.
type Templates struct {
	byID     map[string]Template
	order    []string
	defaults Defaults
}

// NewTemplates builds the template set: the built-ins when builtin is true,
// then every *.yaml / *.yml file in dir (when dir is not empty), one
// template per file. A file template with a built-in's id replaces the
// built-in, so a clinic can reshape SOAP without renaming it. Files are
// decoded strictly (an unknown key is an error, as a misspelt key would
// otherwise silently drop a section's instructions) and validated.
func NewTemplates(builtin bool, dir string, defaults Defaults) (*Templates, error) {
	ts := &Templates{byID: map[string]Template{}, defaults: defaults}
	if builtin {
		for _, t := range builtins() {
			ts.add(t)
		}
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("notes: reading template directory: %w", err)
		}
		fromFile := map[string]string{}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
				continue
			}
			path := filepath.Join(dir, name)
			t, err := LoadTemplate(path)
			if err != nil {
				return nil, err
			}
			if prev, ok := fromFile[t.ID]; ok {
				return nil, &TemplateError{Path: path, Code: "template_duplicate", Err: fmt.Errorf("id %q already defined in %s", t.ID, prev)}
			}
			fromFile[t.ID] = path
			ts.add(t)
		}
	}
	if len(ts.order) == 0 {
		return nil, &TemplateError{Code: "template_invalid", Err: errors.New("no templates: enable the built-ins or add template files")}
	}
	check := func(kind string, m map[string]string) error {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := ts.byID[m[k]]; !ok {
				return &TemplateError{Code: "template_default", Err: fmt.Errorf("%s %q defaults to %q: %w", kind, k, m[k], ErrUnknownTemplate)}
			}
		}
		return nil
	}
	if err := check("clinic", defaults.Clinics); err != nil {
		return nil, err
	}
	if err := check("clinician", defaults.Clinicians); err != nil {
		return nil, err
	}
	return ts, nil
}

func (ts *Templates) add(t Template) {
	if _, ok := ts.byID[t.ID]; !ok {
		ts.order = append(ts.order, t.ID)
	}
	ts.byID[t.ID] = t
}

// Get returns the template with the given id; the error wraps
// ErrUnknownTemplate when there is none.
func (ts *Templates) Get(id string) (Template, error) {
	t, ok := ts.byID[id]
	if !ok {
		return Template{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, id)
	}
	return cloneTemplate(t), nil
}

// All lists the templates, built-ins first in their fixed order, then the
// clinic's own in file order, so a UI can offer them in a stable order.
func (ts *Templates) All() []Template {
	out := make([]Template, 0, len(ts.order))
	for _, id := range ts.order {
		out = append(out, cloneTemplate(ts.byID[id]))
	}
	return out
}

// Default picks the template a session drafts with when it names none: the
// clinician's default, else the clinic's, else SOAP (else the first
// template, when the built-ins are off and no file defines "soap").
func (ts *Templates) Default(clinic, clinician string) Template {
	if id, ok := ts.defaults.Clinicians[clinician]; ok && clinician != "" {
		return cloneTemplate(ts.byID[id])
	}
	if id, ok := ts.defaults.Clinics[clinic]; ok && clinic != "" {
		return cloneTemplate(ts.byID[id])
	}
	if t, ok := ts.byID[TemplateSOAP]; ok {
		return cloneTemplate(t)
	}
	return cloneTemplate(ts.byID[ts.order[0]])
}

func cloneTemplate(t Template) Template {
	t.Sections = append([]SectionSpec(nil), t.Sections...)
	return t
}

// LoadTemplate reads one custom template from a YAML file, strictly, and
// validates it.
func LoadTemplate(path string) (Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Template{}, &TemplateError{Path: path, Code: "template_parse", Err: err}
	}
	t, err := ParseTemplate(data)
	if err != nil {
		var te *TemplateError
		if errors.As(err, &te) {
			te.Path = path
			return Template{}, te
		}
		return Template{}, &TemplateError{Path: path, Code: "template_parse", Err: err}
	}
	return t, nil
}

// ParseTemplate decodes one template from YAML, refusing unknown keys and
// more than one document, and validates it.
func ParseTemplate(data []byte) (Template, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var t Template
	if err := dec.Decode(&t); err != nil {
		if errors.Is(err, io.EOF) {
			return Template{}, &TemplateError{Code: "template_parse", Err: errors.New("empty file")}
		}
		return Template{}, &TemplateError{Code: "template_parse", Err: err}
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Template{}, &TemplateError{Code: "template_parse", Err: errors.New("more than one YAML document; put one template per file")}
	}
	if err := ValidateTemplate(t); err != nil {
		return Template{}, err
	}
	return t, nil
}

var (
	idPattern    = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	loincPattern = regexp.MustCompile(`^[0-9]{1,7}-[0-9]$`)
)

// ValidateTemplate checks what drafting and filing rely on: an id clients
// can name, a valid LOINC document code (check digit included, as a typo
// would file the note under the wrong type), at least one section, and
// section ids that are unique and titles that are not empty.
func ValidateTemplate(t Template) error {
	bad := func(format string, args ...any) error {
		return &TemplateError{Code: "template_invalid", Err: fmt.Errorf(format, args...)}
	}
	if !idPattern.MatchString(t.ID) {
		return bad("id %q must be lower-case letters, digits, '_' or '-', starting with a letter", t.ID)
	}
	if strings.TrimSpace(t.Name) == "" {
		return bad("template %q has no name", t.ID)
	}
	if !ValidLOINC(t.LOINC) {
		return bad("template %q: loinc %q is not a valid LOINC code (NNNNN-C with its check digit)", t.ID, t.LOINC)
	}
	if len(t.Sections) == 0 {
		return bad("template %q has no sections", t.ID)
	}
	seen := map[string]bool{}
	for i, s := range t.Sections {
		if !idPattern.MatchString(s.ID) {
			return bad("template %q section %d: id %q must be lower-case letters, digits, '_' or '-'", t.ID, i+1, s.ID)
		}
		if seen[s.ID] {
			return bad("template %q: section id %q used twice", t.ID, s.ID)
		}
		seen[s.ID] = true
		if strings.TrimSpace(s.Title) == "" {
			return bad("template %q section %q has no title", t.ID, s.ID)
		}
	}
	return nil
}

// ValidLOINC reports whether code is a well-formed LOINC code whose check
// digit (LOINC's mod-10 algorithm) matches.
func ValidLOINC(code string) bool {
	if !loincPattern.MatchString(code) {
		return false
	}
	body, check := code[:len(code)-2], int(code[len(code)-1]-'0')
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[len(body)-1-i] - '0')
		if i%2 == 0 { // odd positions from the right are doubled
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10-sum%10)%10 == check
}
