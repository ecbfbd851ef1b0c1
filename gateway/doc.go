// Package gateway is scribegate's HTTP and WebSocket surface: it
// authenticates callers, streams consultation audio to transcription and
// turns each session into a draft note queued for review, mounts the REST
// review API (package noteapi), and exposes health and metrics. It holds no business rules:
// transcription, drafting and the note's life belong to the transcription,
// notes and review packages, which the gateway only drives.
//
// # Routes
//
//	GET  /                           the web UI (package webui); assets under /app/
//	GET  /v1/listen                  WebSocket: Deepgram-compatible live transcription (role clinician)
//	GET  /v1/templates               the templates on offer and the caller's default
//	GET  /v1/patients                patient lookup in the clinic's EHR: ?name= &birthdate= &identifier= (role clinician)
//	/auth/…, /launch…                single sign-on and SMART EHR launch (Options.SignIn, package sso)
//	GET  /v1/notes                   list notes: ?state=a,b (repeatable) &patient= &clinician= &since= &until= &cursor= &limit=
//	GET  /v1/notes/counts            {"counts":{state:n}, "total":n} for the clinic (reviewer, admin)
//	GET  /v1/notes/{id}              one note with transcript and draft; ETag "v<version>"; "lock" while one is held
//	POST /v1/notes/{id}/lock         take or renew the soft edit lock (409 note_locked with the holder's lock)
//	DELETE /v1/notes/{id}/lock       drop your soft lock (204)
//	GET  /v1/events                  server-sent events: note and lock changes {id, state, version}, heartbeats; ends with token_expired
//	PUT  /v1/notes/{id}              edit: {"sections":[...], "version":N} or If-Match: "vN"
//	POST /v1/notes/{id}/approve      approve: {"version":N,"acknowledged_flags":[ids]} or If-Match: "vN" (version required)
//	POST /v1/notes/{id}/reject       reject: {"version":N, "reason":"..."} or If-Match
//	POST /v1/notes/{id}/retry        queue a failed push again (later retries wait longer; 409 while one is queued)
//	GET  /v1/notes/{id}/audit        {"entries":[...]}
//	GET  /healthz                    liveness: always 200 {"status":"ok"}
//	GET  /readyz                     readiness: 200, or 503 {"status":"unavailable","failed":{name:reason}}
//	GET  /metrics                    Prometheus metrics
//
// Every /v1 request carries a JWT: "Authorization: Bearer <jwt>", or
// "Authorization: Token <jwt>" as Deepgram clients send it, or, for
// browsers opening a WebSocket, the subprotocol pair "token", "<jwt>" (the
// gateway then answers with the subprotocol "token"). Tokens need sub, exp,
// clinic and role (clinician, reviewer or admin), and may carry name.
// With Options.Sessions, a request with no token may instead be signed
// in by the web UI's session cookie (package sso), whose changes carry
// the session's CSRF token.
//
// # Errors
//
// REST errors share one shape:
//
//	{"error":{"code":"version_conflict","message":"version 2 is stale; current version is 3","current_version":3}}
//
// "param" names the offending query parameter where there is one, and
// "current_version" comes with version conflicts. Codes are stable; apierror.Codes
// lists every one with its status and meaning, REST and WebSocket alike, and
// the README's error tables are generated from it.
//
// # Streaming protocol
//
// GET /v1/listen speaks Deepgram's live API: audio in binary frames,
// KeepAlive, Finalize and CloseStream in text frames; Results,
// SpeechStarted, UtteranceEnd, Metadata and Error back, and scribegate's
// own NoteDraft, NoteReady, Durable and Progress. docs/protocol.md has the
// query parameters, the messages, gap markers and close codes in full (one
// place, so that it cannot disagree with itself); the Limits fields say
// what each bound does. A session ends with NoteDraft, NoteReady and
// Metadata however it ends, even when the client vanished: what was
// received is never thrown away.
//
// # Durability and resume
//
// With Options.Audio set, audio is stored as it arrives (one writer for
// every session, package groupcommit) and acknowledged with Durable.
// A client that lost its connection reconnects with session=<id> and
// resends from its last Durable; Recover rebuilds, at start-up, the
// sessions a stopped gateway left recording.
package gateway
