// Package cerner files approved notes in Oracle Health Millennium (Cerner)
// through its FHIR R4 API, and is the walkthrough for adding an EHR to
// scribegate: one package, one test file. README.md tells the same story
// in prose; the code is marked Step 1 to Step 7.
//
//  1. Implement connectors.Connector (Push) and register a Factory in init
//     with connectors.Register(Kind, Open); cmd/scribegate blank-imports
//     the package (import _ ".../connectors/cerner") and that is all the
//     gateway needs.
//  2. Decode settings with Config.Decode into your own struct with yaml
//     tags. It is strict: an unknown key fails at start-up. Read secrets
//     from a file or an environment variable, never inline.
//  3. Build the DocumentReference (and Provenance, if your EHR takes it)
//     with fhirdoc and marshal with fhirdoc.Marshal: golang-fhir-models
//     writes invalid FHIR for unset required fields. fhirdoc.Profile holds
//     the per-EHR choices (identifier systems, HTML rendition, preliminary).
//  4. Make Push idempotent for (NoteID, Version): conditional create
//     (If-None-Exist with Profile.IfNoneExist) where the EHR honours it,
//     otherwise find an earlier push before creating.
//  5. Classify failures as *connectors.PushError: fhirclient does it for
//     FHIR (transient: network, 408, 425, 429 with Retry-After, 5xx;
//     permanent: other 4xx with the OperationOutcome text) and refetches a
//     token after a 401. Do not retry inside Push: the push worker does.
//  6. Test against a local stand-in that speaks the vendor's protocol,
//     including its authentication: fhirtest is a FHIR server with fault
//     injection and an auth hook; put the token endpoint beside it.
//  7. Run connectortest.Run with a Harness; it checks idempotency, lost
//     responses, transient and permanent failures, amendments, token
//     expiry, cancellation and concurrency. Optionally implement
//     connectors.Checker so `scribegate connectors check` can test the
//     configuration without filing anything.
//
// What Millennium accepts (sources):
//
//   - Authentication: a system account's client credentials at the
//     tenant's token endpoint
//     https://authorization.cerner.com/tenants/{tenant}/protocols/oauth2/profiles/smart-v1/token
//     with the client id and secret in an HTTP Basic header and
//     grant_type=client_credentials with system scopes ("Requesting
//     Authorization on Behalf of a System",
//     https://fhir.cerner.com/authorization/). We ask for
//     system/DocumentReference.write and .read.
//   - DocumentReference create (Oracle Health Millennium Platform APIs,
//     "Create a document reference",
//     https://docs.oracle.com/en/industries/health/millennium-platform-apis/mfrap/op-documentreference-post.html):
//     status current, docStatus final, one content entry (text/plain is
//     among the supported types), every date with a time, subject a
//     Patient, context.encounter an encounter of the patient; author and
//     authenticator Practitioner references by Millennium id. Fields it
//     does not support are ignored.
//   - No conditional create is documented (Oracle Health developer forum,
//     "Patient Create": If-None-Exist is not mentioned) and
//     DocumentReference search takes patient, encounter, type, period,
//     category, not identifier
//     (https://fhir.cerner.com/millennium/r4/foundation/documents/document-reference/),
//     so Push lists the patient's documents on the note's encounter
//     (patient and encounter, both documented) and compares identifiers. If a
//     tenant drops our identifier (unsupported fields are ignored), that
//     search cannot find an earlier push: add a ledger as the Epic
//     connector does.
//   - No Provenance create: Millennium's R4 Provenance is documented for
//     read and search (returned with DocumentReference search through
//     _revinclude=Provenance:target, same page as above), not create, and
//     DocumentReference create names no Provenance. The connector
//     therefore declares the AI in the note itself
//     (fhirdoc.Profile.Declare: a last line "Drafted with AI assistance by
//     …; reviewed and approved by … on …") and keeps the AIAST security
//     label; testdata/documentreference.golden.json is exactly what is
//     sent.
//
// Settings (YAML, strict):
//
//	kind: cerner
//	base_url: https://fhir-ehr.cerner.com/r4/{tenant-id}
//	token_url: https://authorization.cerner.com/tenants/{tenant-id}/protocols/oauth2/profiles/smart-v1/token
//	client_id: {system account id}
//	client_secret_file: /run/secrets/cerner     # or client_secret_env
//	scopes: [system/DocumentReference.write, system/DocumentReference.read]
//	timeout: 30s
package cerner
