// Package webui is the clinicians' web page served by the gateway: sign in
// (with the organisation's identity provider, from the EHR, or with a
// development token), record a consultation, work through the review queue, and
// review, edit, approve or reject a draft beside its transcript. Queue and
// note follow /v1/events, read with fetch (EventSource cannot send the
// token), so pushes, new notes and other reviewers show without a reload.
//
// The page is plain HTML, CSS and JavaScript modules embedded in the
// binary, so a gateway serves it with nothing to build, nothing fetched
// from elsewhere at run time and no files to deploy beside it. The one
// library, Chart.js (the rollout page's charts, static/app/vendor), is
// its published minified build, vendored with its licence. It holds no
// data and no rules of its own: every action is a /v1 call carrying the
// user's development token, which the page keeps in sessionStorage (gone
// when the tab closes) and never in localStorage, or, signed in by single
// sign-on, the HttpOnly session cookie the page cannot read, with the
// session's CSRF token on every change (package gateway/sso).
//
// Routes (mounted by the gateway): GET / is the page; GET /app/… are its
// assets. Views are chosen by the URL fragment (#/record, #/queue,
// #/notes/{id}, #/rollout), so the server needs no other route.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// contentSecurityPolicy allows the page to load only its own assets and to
// talk only to its own origin (REST and the /v1/listen WebSocket), so text
// from a transcript can never run as script or reach another host. Only
// the frame ancestors given (EHRs that embed the app) may frame it.
func contentSecurityPolicy(frameAncestors []string) string {
	ancestors := "'none'"
	if len(frameAncestors) > 0 {
		ancestors = strings.Join(frameAncestors, " ")
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' data:; connect-src 'self'; media-src 'self'; object-src 'none'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors " + ancestors
}

// Handler serves the page at / and its assets under /app/. Directory
// listings are refused, and every response carries a strict Content
// Security Policy and is revalidated on each load, so an upgraded gateway
// never runs a stale script. The page may be framed only by
// frameAncestors (origins such as https://ehr.example.org); by none when
// there are none.
func Handler(frameAncestors ...string) http.Handler {
	csp := contentSecurityPolicy(frameAncestors)
	root, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if len(frameAncestors) == 0 {
			h.Set("X-Frame-Options", "DENY") // for browsers without CSP 3
		}
		h.Set("Cache-Control", "no-cache")
		// The microphone is for this page only, never for an embedded frame.
		h.Set("Permissions-Policy", "microphone=(self), camera=(), geolocation=()")
		files.ServeHTTP(w, r)
	})
}
