// Package bestpractice files approved notes in Bp Premier, Best Practice
// Software's on-premise general-practice system (connector kind
// "bestpractice"). Bp Premier takes documents two ways, and the setting
// transport chooses:
//
// transport: hl7file (the default) writes each note as an HL7 v2.4
// ORU^R01 message into the folder Bp Premier's inbox imports from — the way
// correspondence reaches Australian GPs: secure-messaging providers drop
// HL7 messages, localised by HL7 Australia ("Australian Diagnostics and
// Referral Messaging – Localisation of HL7 Version 2.4", HL7AUSD-STD-OO-ADRM-2021.1,
// https://confluence.hl7australia.com/display/OOADRM20211), into a folder
// that Bp Premier imports into the clinician's inbox. Assumptions, plainly:
//
//   - Message shape: MSH-12 "2.4^AUS&&ISO3166_1", MSH-18 UNICODE UTF-8,
//     MSH-10 (message control id, at most 20 characters in v2.4) derived
//     from the note identifier ({note}-v{version}, see
//     connectors.Identifier), so a resend carries the same one; MSH-15/16
//     NE: a file drop asks for no acknowledgement, as nothing would read
//     one. MSH-4 and MSH-6 name the organisations as HL7 Australia asks
//     (HD: name^id^type): sending_facility_id / receiving_facility_id, an
//     HPI-O (type AUSHIC, validated) or the id the secure-messaging
//     directory publishes with its type. OBR-3 the note identifier with a
//     fully valued namespace (HL7au:000002); OBR-4 and
//     OBX-3 the LOINC note type; OBR-25/OBX-11 F, or C for an amendment.
//     The note travels as FT (formatted text) in three consecutive OBX
//     segments (heading, the approved text unaltered, footer with the
//     approver and the AI-assistance statement). HL7 Australia's referral
//     profile asks Level 1 senders for a PDF display segment; we send text
//     only (Level 2 receivers must display FT), so a strictly Level 1
//     receiver may want a PDF rendition that is not built yet.
//   - PID-3: an IHI as "{ihi}^^^AUSHIC^NI", a Medicare number as
//     "{number}^^^AUSHIC^MC", a Bp Premier internal id as PI. An identifier
//     goes by its assigning authority whatever form it came in: a bare
//     16-digit 800360 number is an IHI (and its check digit is verified),
//     never a Bp Premier id. PID-5 (name, family^given, type L), PID-7
//     (birth date) and PID-8 (sex, table 0001) carry the demographics the
//     recording confirmed: Bp Premier matches incoming documents on name
//     and birth date, so without them a note waits to be matched by hand.
//   - OBR-16: the author's HPI-I with assigning authority AUSHIC, type NPI.
//   - Delivery: written to a temporary file in a staging folder outside the
//     inbox (staging_dir, default {inbox}/../.scribegate-staging/{inbox
//     name}, on the inbox's file system), given file_mode (default 0640,
//     so the importing service's group can read it), synced, then
//     hard-linked into the inbox as scribegate-{identifier}.hl7 (a link
//     never overwrites, so concurrent pushes of one note deliver it once,
//     and the importer never sees a temporary or partial file). A ledger folder (ledger_dir, default
//     {inbox}/../.scribegate-sent/{inbox name}) keeps a copy of every
//     delivered message so a resend after the importer consumed the file is
//     recognised as a duplicate.
//   - Dates in the rendered text follow Australian usage in the practice's
//     zone (timezone, default Australia/Sydney): "2 March 2025",
//     "02/03/2025 at 2:05 pm". Timestamps carry the zone offset.
//
// transport: fhir files a FHIR R4 DocumentReference (plus the
// AI-transparency Provenance) through Halo Connect's FHIR API for Bp
// Premier (https://docs.haloconnect.io/halo-cloud/fhir-api/overview/:
// FHIR R4 4.0.1, AU Base 4.1.0 where applicable; a facade translating FHIR
// to the practice database). Halo Cloud authenticates integrators with an
// Azure API Management subscription key in the Ocp-Apim-Subscription-Key
// header, not SMART/OAuth (docs.haloconnect.io, "Sparked Testing Event":
// "Auth is via the request header Ocp-Apim-Subscription-Key"); the site is
// chosen by its Halo GUID in the base URL
// (…/integrator/sites/{halo-guid}/fhir/R4). Halo does not publish whether
// DocumentReference create is enabled for every site or whether
// conditional create is honoured, so the connector searches
// DocumentReference?identifier=urn:scribegate:note|{identifier} before each
// create, and also sends If-None-Exist. A refused key is a transient
// failure (configuration, not the note). meta.profile: none by default (AU
// Base 4.1.0 has no DocumentReference profile); profiles adds some.
//
// Patient lookup: on transport fhir the connector also finds patients for
// the recorder (Searching: Halo's FHIR Patient search, by name, birth date,
// IHI, Medicare number or Bp Premier id). Transport hl7file has none: Best
// Practice publishes no search for a folder drop.
//
// Identifiers. Document.Patient is a Bp Premier patient id, or "ihi:…",
// "medicare:…" (or a FHIR token system|value); Author and Approver are Bp
// Premier ids or "hpii:…". Every Australian identifier is validated before
// anything is sent — IHI and HPI-I: 16 digits, prefix 800360 / 800361,
// Luhn check digit; Medicare: the weighted check digit — and an invalid one
// is a permanent failure, since filing against a mistyped number risks the
// wrong chart. Systems are the AU Base ones (package auident).
//
// Settings (YAML, strict):
//
//	kind: bestpractice
//	transport: hl7file                 # or fhir
//	# hl7file
//	inbox_dir: /srv/bp/hl7-inbox       # Bp Premier's import folder (must exist)
//	ledger_dir: /srv/bp/.scribegate-sent
//	staging_dir: /srv/bp/.scribegate-staging  # same file system as the inbox
//	file_mode: "0640"                  # delivered files' permissions
//	sending_application: SCRIBEGATE    # MSH-3
//	sending_facility: clinic-name      # MSH-4 name, default the instance name
//	sending_facility_id: "8003620000000000"   # HPI-O (type AUSHIC) …
//	sending_facility_id_type: ""       # … or a directory id and its type
//	receiving_application: BPS         # MSH-5
//	receiving_facility: Practice Name  # MSH-6 name
//	receiving_facility_id: practice-edi
//	receiving_facility_id_type: HLINK
//	timezone: Australia/Brisbane
//	# fhir
//	base_url: https://api.haloconnect.io/integrator/sites/{halo-guid}/fhir/R4
//	subscription_key_file: /run/secrets/halo   # or subscription_key_env
//	subscription_key_header: Ocp-Apim-Subscription-Key
//	profiles: []
//	timeout: 30s
package bestpractice
