// Package epic files approved notes in Epic as clinical notes, through
// Epic's FHIR R4 API, authenticating as a SMART Backend Services client.
// Import it (blank import is enough) to offer the connector kind "epic".
//
// # Authentication
//
// Epic's Backend Systems flow (Epic on FHIR, OAuth 2.0 tutorial,
// https://fhir.epic.com/Documentation?docId=oauth2, its Backend Systems and
// JSON Web Token sections; the
// HL7 SMART Backend Services specification,
// https://hl7.org/fhir/smart-app-launch/backend-services.html): the client
// signs a JWT with the private key whose public key is registered with the
// client (a JWK set URL or an uploaded certificate), RS384 or ES384, header
// kid and typ "JWT"; claims iss and sub are the client id, aud is the token
// endpoint URL, jti is unique (Epic refuses a jti it has seen before the
// assertion expires), exp is no more than five minutes in the future. It is
// POSTed form-encoded as grant_type=client_credentials,
// client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
// and client_assertion. Epic maps the client id to a background user per
// customer; the token's scopes are those configured for the client.
// golang.org/x/oauth2 has no private_key_jwt, so BackendServices is this
// package's own token source; a tokencache.Cache reuses its tokens until a minute
// before expiry and drops one the FHIR server refused (a 401 refreshes the
// token once, then the request is retried once).
//
// # Filing a note
//
// Epic's "DocumentReference.Create (Clinical Notes) (R4)"
// (Epic on FHIR specifications, https://fhir.epic.com/Specifications, under
// DocumentReference): status "current"; docStatus "final"
// files a signed note, "preliminary" leaves an unsigned one; type is the
// note type (the connector refuses LOINC codes not in note_types before
// sending); subject the patient; context.encounter is required and must be
// an encounter of the same patient (the connector refuses a note without
// one); only the first content.attachment is kept and it must be base64
// text/plain. Success is 201 Created with a relative Location
// (DocumentReference/{id}) and an empty body unless the request says
// Prefer: return=representation. The document is built by fhirdoc and
// carries the AI-assisted security label (meta.security AIAST).
//
// # AI declaration without a Provenance
//
// Epic documents no Provenance create for clinical notes (its R4 Provenance
// API is read-only, and DocumentReference.Create keeps only the first
// text/plain attachment), so the Provenance the design asks for cannot be
// filed. The AI involvement is declared instead where the clinician and
// the chart keep it: fhirdoc.Profile.Declare appends one line after the
// approved text — "Drafted with AI assistance by scribegate (<model>);
// reviewed and approved by <approver> on <date>." — which names the same
// software and approver a Provenance would. The approved text itself is
// sent unchanged before it. testdata/documentreference.json is exactly
// what is sent.
//
// # Idempotency
//
// Epic has no conditional create (If-None-Exist): resending a create files a
// second note. Idempotency lives here: a Ledger keyed by the note identifier
// ("<note>-v<version>") records each attempt before it is sent and Epic's id
// after. A push whose ledger entry has an id returns it as a duplicate; one
// with an attempt but no id (the response was lost) first searches
// DocumentReference?patient=…&encounter=… and compares identifiers, and only
// creates if the note is not there. Epic does not document an identifier
// search parameter for clinical notes, hence the patient+encounter search
// and the comparison here; the assumption that Epic returns the identifier
// we sent on the filed note is not confirmed by its public documentation.
// Production wiring must give the connector a durable ledger (ledger_file,
// or Options.Ledger backed by the gateway's store): with the in-memory
// default a restart loses the record of attempts, and a resend after a
// restart is protected only if the lost attempt is searched for.
//
// # Failures
//
// Every request has a timeout. Network errors, 408, 429 and 5xx are
// transient (Retry-After honoured); other 4xx are permanent and carry the
// OperationOutcome's text. A refused token request is transient: it is the
// gateway's configuration at fault, not the note, and queued notes should go
// through once an operator fixes it.
package epic
