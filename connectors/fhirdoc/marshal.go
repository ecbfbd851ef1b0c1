package fhirdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Marshal encodes a resource as FHIR JSON: resourceType first, and without
// the nulls, empty arrays and empty objects golang-fhir-models emits for
// unset required lists (FHIR forbids all three). Use it, never json.Marshal,
// for anything sent to an EHR.
func Marshal(resource any) ([]byte, error) {
	raw, err := json.Marshal(resource)
	if err != nil {
		return nil, fmt.Errorf("fhirdoc: marshal: %w", err)
	}
	return Clean(raw)
}

// Clean re-encodes FHIR JSON without nulls and empty arrays or objects,
// resourceType first and other keys sorted, so output is stable for golden
// files and signatures.
func Clean(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("fhirdoc: clean: %w", err)
	}
	v, _ = prune(v)
	var b bytes.Buffer
	if err := encode(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// prune drops nulls and empty containers; keep reports whether v survives.
func prune(v any) (any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case map[string]any:
		for k, e := range t {
			if pe, ok := prune(e); ok {
				t[k] = pe
			} else {
				delete(t, k)
			}
		}
		return t, len(t) > 0
	case []any:
		out := t[:0]
		for _, e := range t {
			if pe, ok := prune(e); ok {
				out = append(out, pe)
			}
		}
		return out, len(out) > 0
	default:
		return v, true
	}
}

func encode(b *bytes.Buffer, v any) error {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			if k != "resourceType" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		if _, ok := t["resourceType"]; ok {
			keys = append([]string{"resourceType"}, keys...)
		}
		return list(b, '{', '}', len(keys), func(i int) error {
			if err := encodeScalar(b, keys[i]); err != nil {
				return err
			}
			b.WriteByte(':')
			return encode(b, t[keys[i]])
		})
	case []any:
		return list(b, '[', ']', len(t), func(i int) error { return encode(b, t[i]) })
	default:
		return encodeScalar(b, t)
	}
}

// list writes n elements, comma-separated, between open and close, each
// written by elem: the one shape of a JSON object's members and an array's
// items.
func list(b *bytes.Buffer, open, close byte, n int, elem func(i int) error) error {
	b.WriteByte(open)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := elem(i); err != nil {
			return err
		}
	}
	b.WriteByte(close)
	return nil
}

func encodeScalar(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("fhirdoc: encode: %w", err)
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}
