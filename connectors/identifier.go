package connectors

import "strconv"

// Identifier is the value of the identifier a pushed document carries,
// minted from the note and the approved version ("<noteID>-v<version>"). It
// is the idempotency key: a connector finds an earlier push of the same
// version by it, and an amendment names the version it replaces by it.
func Identifier(noteID string, version int) string {
	return noteID + "-v" + strconv.Itoa(version)
}
