// Package gentu files approved notes in Gentu, Magentus's cloud practice
// management system for Australian specialists, as FHIR R4
// DocumentReferences (connector kind "gentu").
//
// EXPERIMENTAL, until Magentus documents its API: the endpoints, the
// tenant header and the upload call below are assumptions, and the
// connector logs a warning when it opens. Test it against the practice's
// partner sandbox before relying on it. Gentu's staff match attachments
// to charts by name and birth date, so the patient's demographics, where
// the recording gave them, travel in the subject reference's display.
//
// What is known, and what is assumed. Magentus offers Gentu integration
// through a partner programme: an API, authenticated with OAuth 2.0 client
// credentials, that lets partners upload documents as patient attachments;
// letters otherwise reach Gentu by secure messaging (HealthLink, Argus).
// The partner API's reference is not public. This connector therefore
// assumes the standard shape and makes every guess a setting:
//
//   - Authentication: the OAuth 2.0 client credentials grant (RFC 6749
//     section 4.4) at token_url, client authenticated with HTTP Basic
//     (auth_style "basic", RFC 6749 section 2.3.1; "body" sends the
//     credentials as form fields instead). Tokens are cached and refetched
//     when they expire or the API answers 401.
//
//   - Practice selection: a header named by tenant_header carrying
//     tenant_id on every API request (the header name is an assumption; set
//     it to what Magentus issues).
//
//   - Documents: FHIR R4 DocumentReference create at base_url, built by
//     fhirdoc: a text/plain attachment (optionally an XHTML rendition), the
//     LOINC note type, the AI-asserted security label, and a Provenance
//     naming the drafting software and the approving clinician.
//
//   - Idempotency: before creating, the connector searches
//     DocumentReference?identifier=urn:scribegate:note|{note}-v{version} and
//     creates with If-None-Exist on the same identifier, so a retry after a
//     lost reply never files twice whether or not the server honours
//     conditional create.
//
//   - Patients and clinicians: Document.Patient may be a Gentu patient id,
//     or an Australian identifier written "ihi:…" or "medicare:…" (or as a
//     FHIR token "system|value"); Author and Approver may be Gentu ids or
//     "hpii:…". Identifiers are validated (IHI/HPI-I: 16 digits, prefix
//     800360/800361, Luhn; Medicare: check digit) and an invalid one is a
//     permanent failure before anything is sent; valid ones become
//     identifier references with the AU Base systems
//     (http://ns.electronichealth.net.au/id/hi/ihi/1.0,
//     …/id/medicare-number, …/id/hi/hpii/1.0). See package auident.
//
//   - meta.profile: none by default. AU Base 4.1.0 defines no
//     DocumentReference profile and AU Core's is still a CI build
//     (http://hl7.org.au/fhir/core/StructureDefinition/au-core-documentreference);
//     list canonical URLs in profiles to claim one.
//
//   - Patient lookup: standard FHIR Patient search on base_url (name,
//     birthdate, an IHI or Medicare number as identifier, a Gentu id as
//     _id), since Magentus publishes no patient search (SearchPatients).
//
// When Magentus documents its API, expect to change base_url and the
// tenant header, and possibly the attachment upload call; the rest stays.
//
// Settings (YAML, strict):
//
//	kind: gentu
//	base_url: https://partner.example/fhir/R4   # FHIR R4 base
//	token_url: https://partner.example/oauth2/token
//	client_id: scribegate
//	client_secret_file: /run/secrets/gentu       # or client_secret_env
//	scopes: []                                   # if the API wants any
//	auth_style: basic                            # or body
//	tenant_header: X-Practice-Id                 # with tenant_id
//	tenant_id: "1234"
//	provenance: true
//	html: false
//	profiles: []
//	timeout: 30s
package gentu
