// Package strictyaml decodes configuration YAML the one way the gateway's
// file and every connector instance's settings are read: a key with no
// field is an error, an error names its key rather than a line of
// re-encoded text, and a duration is written with its unit ("30s").
//
// gopkg.in/yaml.v3 refuses a bare number for a time.Duration with "line 2:
// cannot unmarshal !!int `30` into time.Duration", which names neither the
// setting nor the fix, and refuses a bare 0 as well, which is unambiguous
// and what an operator writes for "none". Here a bare 0 is zero and any
// other bare number is refused with the key and the unit it lacks.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Decode decodes the YAML document raw into v (a pointer), strictly. An
// empty document leaves v as it is.
func Decode(raw []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if doc.Kind == 0 {
		return nil
	}
	var problems []string
	durations(&doc, reflect.TypeOf(v), "", &problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	fixed, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(fixed))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return namedErrors(fixed, te)
		}
		return err
	}
	return nil
}

// ParseDuration reads a duration as Decode does: with a unit ("90s",
// "1m30s"), or a bare 0.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("%s has no unit: write a duration such as %ss", s, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write one such as 30s, 1m30s or 500ms)", s)
	}
	return d, nil
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	nodeType     = reflect.TypeFor[yaml.Node]()
)

// durations walks n beside the Go type t it will be decoded into, checks
// every scalar bound for a time.Duration with ParseDuration (noting
// problems under their dotted key) and rewrites a bare 0 as "0s", which
// yaml.v3 takes.
func durations(n *yaml.Node, t reflect.Type, key string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			durations(c, t, key, problems)
		}
		return
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return
		}
		d, err := ParseDuration(n.Value)
		if err != nil {
			*problems = append(*problems, key+": "+err.Error())
			return
		}
		if d == 0 {
			n.Tag, n.Value, n.Style = "!!str", "0s", 0
		}
	case t == nodeType:
		// Decoded later by its owner (a connector instance's settings).
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields[n.Content[i].Value]; ok {
				durations(n.Content[i+1], ft, join(key, n.Content[i].Value), problems)
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			durations(n.Content[i+1], t.Elem(), join(key, n.Content[i].Value), problems)
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			durations(c, t.Elem(), fmt.Sprintf("%s[%d]", key, i), problems)
		}
	}
}

// yamlFields maps a struct's YAML keys to their fields' types, the fields
// of ",inline" structs included, as yaml.v3 names them.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// namedErrors rewrites yaml's "line N: cannot unmarshal …" errors, whose
// line numbers are those of the re-encoded document and so mean nothing
// to the operator, to name the setting instead ("timeout: cannot
// unmarshal …").
func namedErrors(raw []byte, te *yaml.TypeError) error {
	keys := map[int]string{}
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) == nil {
		keyLines(&doc, "", keys)
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		var line int
		if _, err := fmt.Sscanf(m, "line %d:", &line); err != nil {
			continue
		}
		if k, ok := keys[line]; ok {
			msgs[i] = k + ":" + strings.TrimPrefix(m, fmt.Sprintf("line %d:", line))
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// keyLines maps the line of every mapping value under n to its dotted key.
func keyLines(n *yaml.Node, prefix string, keys map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			keyLines(c, prefix, keys)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := prefix + n.Content[i].Value
			keys[n.Content[i+1].Line] = k
			keyLines(n.Content[i+1], k+".", keys)
		}
	}
}
