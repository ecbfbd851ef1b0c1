// Package mllp sends approved notes to a hospital's interface engine as
// HL7 v2.5.1 MDM messages over MLLP (connector kind "mllp"): the way most
// hospitals take transcribed documents when their EHR's FHIR API is not
// open for writing. The HL7 v2-to-FHIR mapping relates MDM's TXA to
// DocumentReference; this is the same document by the older road.
//
// The message (HL7 v2.5.1 chapter 9, "Medical Records/Information
// Management"):
//
//   - MDM^T02^MDM_T02 (original document notification and content); an
//     amendment is MDM^T10 (document replacement notification and
//     content) whose TXA-13 (parent document number) is the document it
//     replaces, with TXA-21 saying why.
//   - MSH-10, the message control id, is 20 characters derived from the
//     note identifier ({note}-v{version}, connectors.Identifier), and
//     TXA-12, the unique document number, is that identifier with the
//     sending application as namespace. A resend after a lost
//     acknowledgement is byte for byte the same document under the same
//     numbers, so the engine can recognise it.
//   - EVN; PID-3 the patient id (CX with patient_id_authority and
//     patient_id_type, default MR), PID-5/7/8 the patient's name, birth
//     date and sex where the recording gave them; PV1-2 patient_class
//     (default O), PV1-19 the encounter as visit number.
//   - TXA-2 the document type (table 0270, from the LOINC note type: CN
//     consult, PN progress, DS discharge summary …), TXA-3 TX, TXA-5/9 the
//     author, TXA-10 the approving clinician, TXA-17 AU (authenticated),
//     TXA-19 AV (available).
//   - One OBX per line of the note, value type TX, OBX-3 the LOINC note
//     type, OBX-11 F (C for an amendment); the approved text exactly,
//     escaped (HL7 v2.5 section 2.7), then a blank line and the AI
//     declaration naming the drafting software and the approving
//     clinician: an HL7 v2 document has no Provenance, so the words in the
//     note are the chart's record of how it was drafted.
//
// Acknowledgements (original mode; MSH-15/16 are empty): AA (or CA) files
// the note; AE (application error) is transient, the engine could not
// process it now; AR (application reject) is permanent and its reason
// (MSA-3, or ERR-8 / ERR-3) is shown to the clinician. An AE or AR whose
// ERR-3 is 205 (table 0357, "duplicate key identifier") means the engine
// already holds the document number: the push is a duplicate, not a
// failure. No acknowledgement within ack_timeout, a dropped connection
// or a reply that is not an ACK of this message is transient.
//
// Idempotency: MLLP cannot ask an engine what it holds, so the connector
// keeps the shared push ledger (connectors/ledger, ledger.json in its state
// directory) of acknowledged identifiers and
// never sends those again; the one remaining window, an acknowledgement
// lost in transit, is closed by the receiver: the interface engine must
// treat TXA-12 as the document's key (a second T02 with the same unique
// document number is the same document — route it once, or answer AR
// with ERR-3 205). Integrators should configure their engine so.
//
// Connection: one per instance, opened on first use and kept; pushes take
// turns on it. A connection the engine closed while idle is replaced and
// the message sent once more (same control id); any other failure closes
// it and the next push reconnects. MLLP over TLS with tls: true (optional
// private CA and client certificate).
//
// Why no HL7 library: no Go HL7 v2 library can be fetched through the
// module proxy this project builds with, and the part a sender needs is
// small; the encoding rules live in package hl7v2, shared with the Best
// Practice connector. The tests check the messages with the stand-in in
// mllptest, which parses them on its own and validates MDM's structure.
//
// Settings (YAML, strict):
//
//	kind: mllp
//	address: engine.hospital.example:2575
//	tls: false                        # MLLP over TLS
//	ca_file: /etc/scribegate/engine-ca.pem
//	server_name: engine.hospital.example
//	cert_file: /run/secrets/mllp.crt  # client certificate, if asked
//	key_file: /run/secrets/mllp.key
//	connect_timeout: 10s
//	ack_timeout: 30s
//	sending_application: SCRIBEGATE   # MSH-3
//	sending_facility: clinic-name     # MSH-4, default the instance name
//	receiving_application: EPIC       # MSH-5
//	receiving_facility: MAIN          # MSH-6
//	processing_id: P                  # MSH-11: P, T or D
//	patient_id_authority: HOSP-MRN    # PID-3.4
//	patient_id_type: MR               # PID-3.5
//	patient_class: O                  # PV1-2
//	timezone: Australia/Sydney        # timestamps' zone, default UTC
package mllp
