package connectors

import (
	"errors"
	"strconv"
	"strings"
)

// Identifier is the value of the identifier a pushed document carries,
// minted from the note and the approved version ("<noteID>-v<version>"). It
// is the idempotency key: a connector finds an earlier push of the same
// version by it, and an amendment names the version it replaces by it.
func Identifier(noteID string, version int) string {
	return noteID + "-v" + strconv.Itoa(version)
}

// FileName makes a document identifier safe as (part of) a file name, for
// the connectors that deliver documents as files: anything but ASCII
// letters, digits, '-', '_' and '.' becomes '_', and leading dots are
// dropped, so an identifier can name neither a path outside the folder nor
// a hidden file.
func FileName(ident string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, strings.TrimLeft(ident, "."))
}

// CheckFHIRID reports whether id is a FHIR logical id: 1 to 64 of
// A-Z a-z 0-9 - . (FHIR R4 "id" datatype, http://hl7.org/fhir/R4/datatypes.html#id).
// It is the patient-id rule of every connector that references the patient
// as Patient/{id}; the error describes the shape, never the id.
func CheckFHIRID(id string) error {
	if id == "" || len(id) > 64 {
		return errors.New("a FHIR id is 1 to 64 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return errors.New("a FHIR id has only letters, digits, '-' and '.'")
		}
	}
	return nil
}
