// Package webhook posts approved notes to an integrator's HTTPS endpoint
// (connector kind "webhook"): the FHIR R4 DocumentReference and the
// AI-transparency Provenance, as a FHIR Bundle of type collection, signed
// so the receiver knows the gateway sent it and nothing changed on the way.
//
// The request:
//
//	POST {url}
//	Content-Type: application/fhir+json
//	Idempotency-Key: {note}-v{version}
//	Scribegate-Signature: t=1741874400,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//
//	{"resourceType":"Bundle","type":"collection","timestamp":…,
//	 "identifier":{"system":"urn:scribegate:note","value":"{note}-v{version}"},
//	 "entry":[{"fullUrl":"urn:uuid:…","resource":{DocumentReference}},
//	          {"fullUrl":"urn:uuid:…","resource":{Provenance}}]}
//
// The Provenance's target names the DocumentReference by its fullUrl and
// by the note identifier; an amendment's DocumentReference has relatesTo
// replaces naming the version it replaces.
//
// Signature (the scheme Stripe and Svix use): t is the Unix time the
// request was signed; v1 is the lower-case hex HMAC-SHA256, keyed with the
// shared secret, of the string "{t}.{body}" — the timestamp, a full stop,
// and the exact bytes of the body. To verify:
//
//  1. Split the header at commas into key=value pairs; take t and every
//     v1 (a future key rotation may send two).
//  2. Compute HMAC-SHA256(secret, t + "." + raw body) and compare it with
//     each v1 in constant time (hmac.Equal); one must match.
//  3. Refuse the request when t is more than five minutes from your clock,
//     so a captured request cannot be replayed later. The gateway signs
//     each attempt afresh, so a retry always carries a current t.
//
// Idempotency: the Idempotency-Key header (draft-ietf-httpapi-idempotency-
// key-header) is the note identifier, the same on every retry of one
// approved version and different for every version. A receiver stores the
// keys it has processed and answers a repeat with the same 2xx without
// acting again; it may say so with "Idempotent-Replayed: true", which the
// gateway reports as a duplicate.
//
// Replies: any 2xx files the note (the id the receiver gives it is read
// from a JSON body's "id", else the Location header, else the key is
// used); 408, 409 (a request with this key still in progress), 425, 429
// (Retry-After honoured) and 5xx are transient, as are network errors and
// timeouts; other 4xx are permanent and their reason — a FHIR
// OperationOutcome, a JSON "error"/"message", or a short text body — is
// shown to the clinician.
//
// Settings (YAML, strict):
//
//	kind: webhook
//	url: https://integrator.example/scribegate/notes
//	secret_file: /run/secrets/webhook   # or secret_env; at least 32 bytes
//	headers: {X-Tenant: clinic-a}       # extra headers, optional
//	timeout: 30s
package webhook
