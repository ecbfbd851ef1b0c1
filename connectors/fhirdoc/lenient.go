package fhirdoc

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Resource is what a connector needs from an EHR's reply, decoded leniently:
// unknown fields and codes are ignored rather than failing the decode as
// golang-fhir-models would.
type Resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		VersionID   string `json:"versionId"`
		LastUpdated string `json:"lastUpdated"`
	} `json:"meta"`
	Status     string       `json:"status"`
	Identifier []Identifier `json:"identifier"`
	// MasterIdentifier is set on DocumentReferences.
	MasterIdentifier *Identifier `json:"masterIdentifier"`
}

// Identifier is a decoded FHIR Identifier.
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Content is one DocumentReference.content element, decoded leniently: the
// attachment's media type and its base64 data, what a test EHR reads back
// from a filed document.
type Content struct {
	Attachment struct {
		ContentType string `json:"contentType"`
		Data        string `json:"data"`
	} `json:"attachment"`
}

// HasIdentifier reports whether the resource carries system|value.
func (r Resource) HasIdentifier(system, value string) bool {
	if r.MasterIdentifier != nil && r.MasterIdentifier.System == system && r.MasterIdentifier.Value == value {
		return true
	}
	for _, id := range r.Identifier {
		if id.System == system && id.Value == value {
			return true
		}
	}
	return false
}

// DecodeLenient decodes the parts of a resource a connector uses.
func DecodeLenient(body []byte) (Resource, error) {
	var r Resource
	if err := json.Unmarshal(body, &r); err != nil {
		return Resource{}, fmt.Errorf("fhirdoc: decode reply: %w", err)
	}
	return r, nil
}

// Bundle is a leniently decoded Bundle (a search result).
type Bundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        *int   `json:"total"`
	Link         []struct {
		Relation string `json:"relation"`
		URL      string `json:"url"`
	} `json:"link"`
	Entry []struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
		Search   struct {
			Mode string `json:"mode"`
		} `json:"search"`
	} `json:"entry"`
}

// Matches returns the entries of a searchset that are matches (not included
// resources or OperationOutcomes), decoded leniently.
func (b Bundle) Matches() []Resource {
	var out []Resource
	for _, e := range b.Entry {
		if e.Search.Mode != "" && e.Search.Mode != "match" {
			continue
		}
		r, err := DecodeLenient(e.Resource)
		if err != nil || r.ResourceType == "OperationOutcome" {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Next is the URL of the next page of a paged search
// (Bundle.link[relation=next]), empty on the last page.
func (b Bundle) Next() string {
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// DecodeBundle decodes a Bundle leniently.
func DecodeBundle(body []byte) (Bundle, error) {
	var b Bundle
	if err := json.Unmarshal(body, &b); err != nil {
		return Bundle{}, fmt.Errorf("fhirdoc: decode bundle: %w", err)
	}
	if b.ResourceType != "Bundle" {
		return Bundle{}, fmt.Errorf("fhirdoc: decode bundle: got resourceType %q", b.ResourceType)
	}
	return b, nil
}

// operationOutcome is the part of an OperationOutcome worth showing.
type operationOutcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Details  struct {
			Text   string `json:"text"`
			Coding []struct {
				Code    string `json:"code"`
				Display string `json:"display"`
			} `json:"coding"`
		} `json:"details"`
		Diagnostics string   `json:"diagnostics"`
		Expression  []string `json:"expression"`
		Location    []string `json:"location"`
	} `json:"issue"`
}

// ParseOperationOutcome returns the human-readable text of an
// OperationOutcome body (errors and fatal issues first; warnings only if
// there is nothing else), and false if body is not an OperationOutcome. It
// is the EHR's own explanation, shown to the clinician.
func ParseOperationOutcome(body []byte) (string, bool) {
	var oo operationOutcome
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" {
		return "", false
	}
	var serious, other []string
	for _, is := range oo.Issue {
		msg := is.Details.Text
		if msg == "" {
			msg = is.Diagnostics
		} else if is.Diagnostics != "" && is.Diagnostics != msg {
			msg += " (" + is.Diagnostics + ")"
		}
		if msg == "" {
			for _, c := range is.Details.Coding {
				if c.Display != "" {
					msg = c.Display
					break
				}
			}
		}
		if msg == "" {
			msg = is.Code
		}
		if msg == "" {
			continue
		}
		loc := is.Expression
		if len(loc) == 0 {
			loc = is.Location
		}
		if len(loc) > 0 {
			msg = strings.Join(loc, ", ") + ": " + msg
		}
		switch is.Severity {
		case "fatal", "error":
			serious = append(serious, msg)
		default:
			other = append(other, msg)
		}
	}
	if len(serious) == 0 {
		serious = other
	}
	return strings.Join(serious, "; "), true
}
