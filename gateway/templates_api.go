package gateway

import (
	"net/http"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/transcription/notes"
)

// templateInfo is what a recorder needs to offer a template: its id, its
// name and the sections the draft will have. Instructions stay server-side.
type templateInfo struct {
	ID       string        `json:"id"`
	Name     string        `json:"name"`
	Sections []sectionInfo `json:"sections"`
}

type sectionInfo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type templatesBody struct {
	Templates []templateInfo `json:"templates"`
	// Default is the template a session of this caller drafts with when it
	// names none, so a recorder can preselect it.
	Default string `json:"default"`
}

// listTemplates serves GET /v1/templates: every template the gateway
// offers, in the template set's stable order, and the caller's default.
func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	c, _, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	all := s.opts.Templates.All()
	body := templatesBody{Templates: make([]templateInfo, 0, len(all)), Default: s.opts.Templates.Default(c.Clinic, c.Subject).ID}
	for _, t := range all {
		info := templateInfo{ID: t.ID, Name: t.Name, Sections: make([]sectionInfo, 0, len(t.Sections))}
		for _, sec := range t.Sections {
			info.Sections = append(info.Sections, sectionInfo{ID: sec.ID, Title: sec.Title})
		}
		body.Templates = append(body.Templates, info)
	}
	apierror.WriteJSON(w, http.StatusOK, body)
}

var _ TemplateSet = (*notes.Templates)(nil)
