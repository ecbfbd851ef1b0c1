package connectors

import "context"

// Checker is an optional interface a Connector implements so an operator can
// find a misconfigured EHR instance (wrong secret, wrong base URL, missing
// write permission) before the first approved note fails to push. The
// `scribegate connectors check` command runs it for every configured
// instance; a connector that does not implement it is reported as having no
// checks, not as failing.
//
// Check must not file anything in the EHR: it may fetch a token, read the
// server's CapabilityStatement or stat a folder, never create a document.
type Checker interface {
	Check(ctx context.Context) []CheckResult
}

// CheckResult is the outcome of one named check, worded for an operator.
type CheckResult struct {
	// Name says what was checked, e.g. "token" or
	// "capabilities: DocumentReference create".
	Name string
	// OK is true when the check passed.
	OK bool
	// Detail explains a failure (the EHR's own message where it gave one)
	// or qualifies a pass; it never carries secrets or patient data.
	Detail string
}
