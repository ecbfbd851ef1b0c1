package fhirtest

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// fhirDate is a FHIR date search value (YYYY, YYYY-MM or YYYY-MM-DD) with
// an optional comparison prefix (https://hl7.org/fhir/R4/search.html#date).
var fhirDate = regexp.MustCompile(`^(eq|ne|gt|lt|ge|le|sa|eb|ap)?[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$`)

// StrictPatientSearch wraps a FHIR server so that a Patient search
// (GET …/Patient?…) names only the search parameters the server lists in
// its CapabilityStatement (params, without modifiers) and gives each a
// valid value, as a server does under "Prefer: handling=strict"
// (https://hl7.org/fhir/R4/search.html#errors): anything else is answered
// 400 with an OperationOutcome (not-supported for an unknown parameter,
// invalid for a bad value) instead of being ignored, so a client that
// misspells a parameter, or sends a birth date in another format, fails
// its test rather than silently widening the search. Other requests pass
// through.
func StrictPatientSearch(next http.Handler, params ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/Patient") {
			next.ServeHTTP(w, r)
			return
		}
		q := r.URL.Query()
		if len(q) == 0 {
			writeOutcome(w, http.StatusBadRequest, "invalid", "a Patient search needs at least one search parameter")
			return
		}
		for name, vals := range q {
			if !slices.Contains(params, name) {
				writeOutcome(w, http.StatusBadRequest, "not-supported", "unknown or unsupported search parameter "+name)
				return
			}
			for _, v := range vals {
				bad := v == ""
				switch name {
				case "birthdate":
					bad = bad || !fhirDate.MatchString(v)
				case "_count":
					n, err := strconv.Atoi(v)
					bad = err != nil || n < 0
				}
				if bad {
					writeOutcome(w, http.StatusBadRequest, "invalid", "invalid value for search parameter "+name)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}
