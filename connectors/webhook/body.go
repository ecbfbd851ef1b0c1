package webhook

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"
	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// Body is exactly what Push sends for d: a FHIR Bundle (type collection)
// of the DocumentReference and its Provenance. It depends on d alone, so
// every retry of one version sends the same bytes.
func Body(d *connectors.Document) ([]byte, error) {
	var p fhirdoc.Profile
	dr, err := fhirdoc.BuildDocumentReference(d, p)
	if err != nil {
		return nil, err
	}
	if who := fhirdoc.PatientDisplay(d); who != "" && dr.Subject != nil {
		dr.Subject.Display = &who
	}
	ident := p.NoteIdentifier(d)
	docURL := urn(*ident.Value, "DocumentReference")
	target := fhirdoc.DocumentTarget("", d, p)
	target.Reference = &docURL
	prov, err := fhirdoc.BuildProvenance(d, target, p)
	if err != nil {
		return nil, err
	}
	drJSON, err := fhirdoc.Marshal(dr)
	if err != nil {
		return nil, err
	}
	provJSON, err := fhirdoc.Marshal(prov)
	if err != nil {
		return nil, err
	}
	type entry struct {
		FullURL  string          `json:"fullUrl"`
		Resource json.RawMessage `json:"resource"`
	}
	b := struct {
		ResourceType string          `json:"resourceType"`
		Identifier   fhir.Identifier `json:"identifier"`
		Type         string          `json:"type"`
		Timestamp    string          `json:"timestamp"`
		Entry        []entry         `json:"entry"`
	}{
		ResourceType: "Bundle",
		Identifier:   ident,
		Type:         "collection",
		Timestamp:    d.ApprovedAt.UTC().Format("2006-01-02T15:04:05Z"),
		Entry: []entry{
			{docURL, drJSON},
			{urn(*ident.Value, "Provenance"), provJSON},
		},
	}
	return json.Marshal(b)
}

// urn is a stable urn:uuid for one resource of one note version (a
// name-based UUID, version 8, from SHA-256), so the Bundle's references
// resolve and a resend is byte for byte the same.
func urn(ident, resourceType string) string {
	h := sha256.Sum256([]byte(ident + "/" + resourceType))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
