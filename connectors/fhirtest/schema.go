package fhirtest

// This file checks FHIR R4 resources against the official FHIR R4 JSON
// schema (http://hl7.org/fhir/R4/fhir.schema.json.zip), so every resource
// scribegate builds, and every body the test FHIR server accepts, is known
// to be structurally valid FHIR rather than merely valid JSON. Only tests
// and test servers use it, so it lives here rather than in a production
// package.
//
// The schema is large (3.5 MB); compiling it takes a moment, so a Validator
// compiles it once and is then safe for concurrent use.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL is the id the R4 schema declares for itself.
const schemaURL = "http://hl7.org/fhir/json-schema/4.0"

// RepoSchemaPath is where the schema lives, relative to the repository root.
const RepoSchemaPath = "testdata/fhir.schema.json"

// Validator validates resources against one compiled copy of the schema.
// Validate may be called from many goroutines at once.
type Validator struct {
	mu       sync.Mutex // guards compiler and byType
	compiler *jsonschema.Compiler
	byType   map[string]*jsonschema.Schema
	types    map[string]bool // resource types the schema knows
}

// LoadSchema reads and compiles the schema at path. It is slow (about a second);
// load once and share the Validator.
func LoadSchema(path string) (*Validator, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fhirtest: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("fhirtest: parse %s: %w", path, err)
	}
	types := map[string]bool{}
	if m, ok := doc.(map[string]any); ok {
		if d, ok := m["discriminator"].(map[string]any); ok {
			if mapping, ok := d["mapping"].(map[string]any); ok {
				for t := range mapping {
					types[t] = true
				}
			}
		}
	}
	if len(types) == 0 {
		return nil, fmt.Errorf("fhirtest: %s is not the FHIR JSON schema (no resourceType discriminator)", path)
	}
	patchDanglingRefs(doc.(map[string]any))
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft6)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("fhirtest: %w", err)
	}
	v := &Validator{compiler: c, byType: map[string]*jsonschema.Schema{}, types: types}
	// Compile the resource list eagerly so a broken schema fails here, and
	// so later per-type compiles only resolve already-compiled definitions.
	if _, err := v.schemaFor("DocumentReference"); err != nil {
		return nil, err
	}
	return v, nil
}

// patchDanglingRefs adds definitions the published schema refers to but
// does not define: the R4 schema file refers to #/definitions/integer64 (an
// R5 type) without defining it, which would make the whole schema fail to
// compile. integer64 is a JSON string in FHIR, so define it as one. The file
// also refers to #/definitions/Resource (for contained resources) where the
// published R4 file says ResourceList; it means "any resource", which is the
// top-level oneOf.
func patchDanglingRefs(doc map[string]any) {
	defs, ok := doc["definitions"].(map[string]any)
	if !ok {
		return
	}
	if _, ok := defs["Resource"]; !ok {
		if _, ok := defs["ResourceList"]; ok {
			defs["Resource"] = map[string]any{"$ref": "#/definitions/ResourceList"}
		} else if oneOf, ok := doc["oneOf"]; ok {
			defs["Resource"] = map[string]any{"oneOf": oneOf}
		}
	}
	if _, ok := defs["integer64"]; !ok {
		defs["integer64"] = map[string]any{"type": "string", "pattern": "^[0]|[-]?[1-9][0-9]*$"}
	}
}

// schemaFor compiles (once) the definition of one resource type. Validating
// against the type's own definition rather than the top-level oneOf keeps
// error messages about the resource at hand instead of 140 alternatives.
func (v *Validator) schemaFor(resourceType string) (*jsonschema.Schema, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.byType[resourceType]; ok {
		return s, nil
	}
	if !v.types[resourceType] {
		return nil, &SchemaError{Problems: []Problem{{Path: "/resourceType", Message: fmt.Sprintf("unknown FHIR R4 resource type %q", resourceType)}}}
	}
	s, err := v.compiler.Compile(schemaURL + "#/definitions/" + resourceType)
	if err != nil {
		return nil, fmt.Errorf("fhirtest: compile %s: %w", resourceType, err)
	}
	v.byType[resourceType] = s
	return s, nil
}

// Problem is one schema violation: where in the resource and what is wrong.
type Problem struct {
	// Path is a JSON pointer into the resource ("/content/0/attachment").
	Path    string
	Message string
}

// SchemaError is returned when a resource is not valid FHIR R4. Callers that show
// the reason (the test FHIR server's OperationOutcome) use Problems.
type SchemaError struct {
	ResourceType string
	Problems     []Problem
}

func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString("fhirtest: invalid")
	if e.ResourceType != "" {
		b.WriteString(" " + e.ResourceType)
	}
	for i, p := range e.Problems {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.Path + ": " + p.Message)
	}
	return b.String()
}

// Validate checks one resource (JSON with a resourceType) against the R4
// schema. It returns *SchemaError, listing JSON pointer paths, when the resource
// is not valid.
func (v *Validator) Validate(resourceJSON []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(resourceJSON))
	if err != nil {
		return &SchemaError{Problems: []Problem{{Path: "", Message: "not JSON: " + err.Error()}}}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return &SchemaError{Problems: []Problem{{Path: "", Message: "not a JSON object"}}}
	}
	rt, _ := obj["resourceType"].(string)
	if rt == "" {
		return &SchemaError{Problems: []Problem{{Path: "/resourceType", Message: "missing resourceType"}}}
	}
	s, err := v.schemaFor(rt)
	if err != nil {
		return err
	}
	err = s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("fhirtest: %w", err)
	}
	e := &SchemaError{ResourceType: rt}
	collectLeaves(ve, e)
	if len(e.Problems) == 0 {
		e.Problems = []Problem{{Path: "", Message: ve.Error()}}
	}
	return e
}

var printer = message.NewPrinter(language.English)

// collectLeaves records the innermost causes: their parents only say that
// some nested schema failed.
func collectLeaves(ve *jsonschema.ValidationError, e *SchemaError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectLeaves(c, e)
		}
		return
	}
	p := Problem{Path: pointer(ve.InstanceLocation), Message: ve.ErrorKind.LocalizedString(printer)}
	if !slices.Contains(e.Problems, p) {
		e.Problems = append(e.Problems, p)
	}
}

// pointer renders a location as an RFC 6901 JSON pointer.
func pointer(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		tok = strings.ReplaceAll(tok, "~", "~0")
		tok = strings.ReplaceAll(tok, "/", "~1")
		b.WriteString("/" + tok)
	}
	return b.String()
}

// ValidateValue marshals v (a golang-fhir-models resource or any value that
// marshals to a resource) and validates it.
func (v *Validator) ValidateValue(r any) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("fhirtest: marshal: %w", err)
	}
	return v.Validate(b)
}

var repoValidator = sync.OnceValues(func() (*Validator, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	return LoadSchema(filepath.Join(root, RepoSchemaPath))
})

// Schema returns the repository's schema validator, compiled once per test
// binary, failing t if the schema cannot be found or compiled.
func Schema(t testing.TB) *Validator {
	t.Helper()
	v, err := repoValidator()
	if err != nil {
		t.Fatalf("fhirtest: %v", err)
	}
	return v
}

// RepoSchema returns the validator for the repository's schema (compiled once per
// process), for code running inside the source tree, such as tests and
// test servers that have no testing.TB.
func RepoSchema() (*Validator, error) { return repoValidator() }

// RepoRoot finds the repository root by walking up from the working
// directory to the directory holding go.mod, as go test runs tests in their
// package directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("fhirtest: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("fhirtest: no go.mod above the working directory")
		}
		dir = parent
	}
}
