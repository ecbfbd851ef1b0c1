package apierror

import (
	"fmt"
	"strings"
)

// Stable error codes. Clients branch on these, so they never change meaning;
// Codes says what each means.
const (
	CodeUnauthorized          = "unauthorized"
	CodeTokenExpired          = "token_expired"
	CodeInvalidToken          = "invalid_token"
	CodeForbidden             = "forbidden"
	CodeNotFound              = "not_found"
	CodeNoteNotFound          = "note_not_found"
	CodeInvalidState          = "invalid_state"
	CodeVersionConflict       = "version_conflict"
	CodeUnacknowledgedFlags   = "unacknowledged_flags"
	CodeVersionRequired       = "version_required"
	CodeInvalidVersion        = "invalid_version"
	CodeInvalidJSON           = "invalid_json"
	CodeInvalidRequest        = "invalid_request"
	CodeBodyTooLarge          = "body_too_large"
	CodeInvalidQuery          = "invalid_query"
	CodeUnsupportedParameter  = "unsupported_parameter"
	CodeUnsupportedEncoding   = "unsupported_encoding"
	CodeUnsupportedSampleRate = "unsupported_sample_rate"
	CodeUnsupportedChannels   = "unsupported_channels"
	CodeInvalidParameter      = "invalid_parameter"
	CodeMissingPatient        = "missing_patient"
	CodeUnknownTemplate       = "unknown_template"
	CodeUnknownConnector      = "unknown_connector"
	CodeUnknownSession        = "unknown_session"
	CodeSessionElsewhere      = "session_elsewhere"
	CodeShuttingDown          = "shutting_down"
	// CodeStoreUnavailable: the store cannot take writes for now (Redis
	// failing over, unreachable, or replicas not confirming): 503 with
	// Retry-After on REST; on a stream, close 1012 and resume later.
	CodeStoreUnavailable = "store_unavailable"
	// CodeSessionMismatch: a resume names another patient or encounter
	// than the session records.
	CodeSessionMismatch = "session_mismatch"
	// CodeLaunchMismatch: a session signed in by an EHR launch records
	// for another patient or encounter than the EHR launched with.
	CodeLaunchMismatch = "launch_mismatch"
	CodeInternal       = "internal"

	// Codes sent in WebSocket Error messages.
	CodeInvalidMessage     = "invalid_message"
	CodeUnknownMessageType = "unknown_message_type"
	CodeFrameTooLarge      = "frame_too_large"
	CodeSessionFailed      = "session_failed"
	CodeTranscriptionError = "transcription_failed"
	CodeDraftFailed        = "draft_failed"
	CodeMaxDuration        = "max_duration"
	// CodeAudioNotStored: the store has not taken Limits.MaxUnstored of
	// the session's audio; the connection is closed (1013) and the
	// session waits for the client to resume from its last Durable.
	CodeAudioNotStored = "audio_not_stored"
)

// Refusal codes of the session limits.
const (
	CodeTooManySessions       = "too_many_sessions"
	CodeClinicianSessionLimit = "clinician_session_limit"
)

// CodeSessionInUse refuses a resume of a session whose connection is
// still streaming.
const CodeSessionInUse = "session_in_use"

// CodeNoteLocked answers POST /v1/notes/{id}/lock when another reviewer
// holds the note; the body's "lock" says who and until when.
const CodeNoteLocked = "note_locked"

// CodeTooManyStreams answers GET /v1/events past Limits.MaxEventStreams.
const CodeTooManyStreams = "too_many_streams"

// Patient lookup codes.
const (
	// CodeLookupUnavailable: the clinic's connector cannot search its EHR
	// for patients (a file drop, a webhook, HL7 v2).
	CodeLookupUnavailable = "lookup_unavailable"
	// CodeEHRUnavailable: the EHR did not answer a lookup.
	CodeEHRUnavailable = "ehr_unavailable"
	// CodeEHRRefused: the EHR answered a lookup with a refusal (no
	// access, or a query it rejects): retrying will not help.
	CodeEHRRefused = "ehr_refused"
)

// CodeDoc documents one stable error code: the reference clients and the
// README's error tables are made from (TestREADMEErrorTables keeps the
// README equal to Codes, and every Code constant listed).
type CodeDoc struct {
	// Status is the HTTP status a REST or upgrade refusal is answered with;
	// 0 for a code sent only in a WebSocket Error message.
	Status int
	Code   string
	// Meaning says when the code is sent, in Markdown.
	Meaning string
}

// Codes returns every stable error code, REST refusals first, then the
// codes of WebSocket Error messages. A code may have a row per context it is
// sent in.
func Codes() []CodeDoc {
	return []CodeDoc{
		{401, CodeUnauthorized, "no token"},
		{401, CodeTokenExpired, "the token's exp has passed, or the sign-in session's"},
		{401, CodeInvalidToken, "bad signature, issuer, audience, or missing sub/clinic/role"},
		{403, CodeForbidden, "the role may not do this; on `/v1/listen`, `session=` names another clinician's session; signed in by cookie, a change without `X-CSRF-Token` or from another origin, or a WebSocket from another origin"},
		{403, CodeLaunchMismatch, "signed in by an EHR launch, a recording (`/v1/listen`, stream or upload) names another `patient` or `encounter` than the EHR launched with"},
		{404, CodeNotFound, "no such route"},
		{404, CodeNoteNotFound, "no such note, or another clinic's (not distinguished)"},
		{404, CodeUnknownSession, "`session=` names no session this clinic is recording"},
		{409, CodeSessionElsewhere, "(on `/v1/listen`) the session is live on another gateway instance sharing the Redis store (`Retry-After: 1`): reconnect, through the load balancer, until one reaches it"},
		{409, CodeSessionMismatch, "a resume names another `patient` (or `encounter`) than the session records: audio never joins another patient's note"},
		{409, CodeSessionInUse, "the session was taken over and its new connection is still streaming: the client that lost it (close `4001`) must not take it back"},
		{409, CodeNoteLocked, "another reviewer holds the note's soft lock (`lock` says who, until when)"},
		{409, CodeInvalidState, "the note's state does not allow it (e.g. approving a note that is not pending)"},
		{409, CodeUnacknowledgedFlags, "approval did not acknowledge every open flag; `error.flags` lists the missing ones as `{\"id\",\"section\",\"sentence\",\"flag\"}`"},
		{412, CodeVersionConflict, "the named version is stale; `current_version` says which is current"},
		{428, CodeVersionRequired, "a change did not name its version"},
		{429, CodeClinicianSessionLimit, "the clinician holds `streaming.max_sessions_per_clinician` sessions"},
		{429, CodeTooManyStreams, "the user holds 8 open `/v1/events` streams"},
		{400, CodeInvalidVersion, "If-Match is not `\"vN\"` or disagrees with the body"},
		{400, CodeInvalidJSON, "not JSON, unknown fields, trailing data"},
		{400, CodeInvalidRequest, "content refused (e.g. a section without id)"},
		{413, CodeBodyTooLarge, "body over 1 MiB (an upload to `POST /v1/listen`: 512 MiB)"},
		{400, CodeInvalidQuery, "malformed query value (`state`, `limit`, `cursor` …), or `/v1/listen` without an upgrade; on `GET /v1/patients`, an `identifier` that cannot name a patient in the clinic's EHR (an IHI or Medicare number with a wrong check digit or length, an athena id with letters): `param` and the message say what is wrong"},
		{400, CodeUnsupportedParameter, "a query parameter, or a value of a Deepgram option, the gateway does not honour (the message says why)"},
		{400, CodeUnsupportedEncoding, "encoding other than `linear16`"},
		{400, CodeUnsupportedSampleRate, "sample_rate outside 8000..48000, or a resume at another rate than the session's"},
		{400, CodeUnsupportedChannels, "channels other than 1"},
		{400, CodeInvalidParameter, "a malformed `/v1/listen` value (boolean, endpointing, language …; a `patient` or `encounter` id of the wrong shape, see `connectors.id_patterns`, or a `patient` the session's connector refuses by its own rules: IHI or Medicare check digit, athena's numeric ids, the FHIR id grammar), and malformed demographics"},
		{400, CodeMissingPatient, "`/v1/listen` without `patient`"},
		{400, CodeUnknownTemplate, "`template` names no template"},
		{400, CodeUnknownConnector, "`connector` names no connector routed to the caller's clinic"},
		{503, CodeTooManySessions, "the gateway holds `streaming.max_sessions` sessions"},
		{501, CodeLookupUnavailable, "`GET /v1/patients`: the clinic's connector cannot search its EHR for patients"},
		{403, CodeEHRRefused, "`GET /v1/patients`: the EHR refused the gateway access to search (HTTP 401 or 403 with a fresh token, athena's `no access`); the message gives the EHR's reason unless it might name a patient"},
		{422, CodeEHRRefused, "`GET /v1/patients`: the EHR rejected the search (HTTP 400, 422, an OperationOutcome); the message gives the EHR's reason unless it might name a patient"},
		{502, CodeEHRUnavailable, "`GET /v1/patients`: the EHR did not answer the search (down, timed out, rate-limited): try again"},
		{503, CodeShuttingDown, "the gateway is draining; reconnect elsewhere"},
		{503, CodeStoreUnavailable, "the store takes no writes for now (Redis failing over or unreachable, or `store.redis_replicas` not confirming in time); `Retry-After: 1`. An approval answered so may have been applied: repeat it; the repeat is answered 200 with the note once the store confirms it, and adds no second approval"},
		{500, CodeInternal, "anything else (details only in the log)"},

		{0, CodeInvalidMessage, "a text frame is not a JSON object with a string `type` (the session goes on), or not UTF-8 (close `1007`; the audio before it is drafted)"},
		{0, CodeUnknownMessageType, "`type` is not KeepAlive, Finalize or CloseStream (the session goes on)"},
		{0, CodeFrameTooLarge, "a message exceeded `streaming.max_frame_bytes`; the session is finished, close `1009`"},
		{0, CodeMaxDuration, "the session reached `streaming.max_session` and was finished"},
		{0, CodeTranscriptionError, "audio could not be transcribed; gaps are marked in the transcript"},
		{0, CodeDraftFailed, "the drafter failed; the note is queued with empty sections, close `1011`"},
		{0, CodeSessionFailed, "the note could not be created or stored, close `1011`"},
		{0, CodeStoreUnavailable, "the store takes no writes for now: close `1012`, the session is kept recording — resume it with `session=<id>` later, or another instance finishes it"},
		{0, CodeAudioNotStored, "the audio store took none of the session's audio for 10 s while `streaming.max_unstored` of it waited: close `1013`, the session is not ended — keep the audio after the last `Durable` and resume with `session=<id>`"},
	}
}

// Tables renders Codes as the README's two Markdown tables: REST
// and upgrade refusals, then WebSocket Error codes.
func Tables() string {
	var rest, ws strings.Builder
	rest.WriteString("| status | code | meaning |\n|---|---|---|\n")
	ws.WriteString("| WebSocket `Error` code | meaning |\n|---|---|\n")
	for _, e := range Codes() {
		if e.Status == 0 {
			fmt.Fprintf(&ws, "| `%s` | %s |\n", e.Code, e.Meaning)
			continue
		}
		fmt.Fprintf(&rest, "| %d | `%s` | %s |\n", e.Status, e.Code, e.Meaning)
	}
	return rest.String() + "\n" + ws.String()
}
