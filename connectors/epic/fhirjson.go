package epic

import "encoding/json"

// canCreateDocumentReference reports whether a CapabilityStatement lists
// the create interaction on DocumentReference.
func canCreateDocumentReference(body []byte) bool {
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string `json:"type"`
				Interaction []struct {
					Code string `json:"code"`
				} `json:"interaction"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if json.Unmarshal(body, &cs) != nil {
		return false
	}
	for _, r := range cs.Rest {
		for _, res := range r.Resource {
			if res.Type != "DocumentReference" {
				continue
			}
			for _, i := range res.Interaction {
				if i.Code == "create" {
					return true
				}
			}
		}
	}
	return false
}
