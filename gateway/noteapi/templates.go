package noteapi

import (
	"net/http"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/auth"
)

// TemplateInfo is what a recorder needs to offer a template: its id, its
// name and the sections the draft will have. Instructions stay server-side.
type TemplateInfo struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Sections []SectionInfo `json:"sections"`
}

// SectionInfo is one section a template drafts.
type SectionInfo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// TemplateList is the answer to GET /v1/templates.
type TemplateList struct {
	Templates []TemplateInfo `json:"templates"`
	// Default is the template a session of this caller drafts with when it
	// names none, so a recorder can preselect it.
	Default string `json:"default"`
}

// listTemplates serves GET /v1/templates: every template the gateway
// offers, in the template set's stable order, and the caller's default.
func (api *API) listTemplates(w http.ResponseWriter, r *http.Request, c auth.Claims) error {
	all := api.opts.Templates.All()
	body := TemplateList{Templates: make([]TemplateInfo, 0, len(all)), Default: api.opts.Templates.Default(c.Clinic, c.Subject).ID}
	for _, t := range all {
		info := TemplateInfo{ID: t.ID, Name: t.Name, Sections: make([]SectionInfo, 0, len(t.Sections))}
		for _, sec := range t.Sections {
			info.Sections = append(info.Sections, SectionInfo{ID: sec.ID, Title: sec.Title})
		}
		body.Templates = append(body.Templates, info)
	}
	apierror.WriteJSON(w, http.StatusOK, body)
	return nil
}
