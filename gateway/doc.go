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
// GET /v1/listen speaks Deepgram's live API (docs/protocol.md has it in full).
// Query (all validated before the
// upgrade): encoding=linear16, sample_rate (8000..48000, default 16000),
// channels=1, interim_results (provisional Results with is_final false
// every Limits.InterimInterval of new speech), punctuate, smart_format
// (accepted), vad_events (SpeechStarted messages), endpointing (ms
// of silence that ends an utterance, or false), utterance_end_ms
// (UtteranceEnd messages), language (BCP-47), model (accepted, unused: the
// operator chooses the engine), keyterm and keywords (repeated: words the
// engine is told to expect, as transcription.Utterance.Keyterms; a
// keyword's intensifier is dropped); and scribegate's own: patient (required),
// encounter, template, connector, session, resume and progress (true:
// Progress messages, below).
//
// Client to gateway: binary frames of raw linear16 mono audio (an empty
// binary frame ends the stream, as older Deepgram clients do), and text
// frames {"type":"KeepAlive"}, {"type":"Finalize"}, {"type":"CloseStream"}.
//
// Gateway to client, as JSON text frames:
//
//	Results        Deepgram's fields: type, channel_index [0,1], duration, start, is_final,
//	               speech_final, from_finalize, channel.alternatives[0].{transcript, confidence,
//	               words[{word, start, end, confidence, punctuated_word}]}, metadata.request_id
//	SpeechStarted  {type, channel [0], timestamp} when vad_events=true
//	UtteranceEnd   {type, channel [0,1], last_word_end} when utterance_end_ms is set
//	NoteDraft      {type, note_id, version, draft, live}: the draft note (note.Draft); live true for
//	               the rate-limited drafts sent during the session (Limits.LiveDraftInterval)
//	NoteReady      {type, note_id, version, state, review_url "/v1/notes/<id>"}
//	Durable        {type, bytes, seconds, request_id, resume_window}: the client's audio (bytes as
//	               sent) stored so far, and the session id to resume with (a browser cannot read
//	               dg-request-id); resume_window (seconds the session waits for its client after a
//	               drop, Limits.ResumeWindow) only in the first Durable on each connection
//	Metadata       {type, transaction_key, request_id (the session id), sha256 (of the audio),
//	               created, duration (seconds of audio), channels, models, model_info}
//	Error          {type, code, description}
//	Progress       {type, stage, pending, pending_seconds, received} every second when progress=true:
//	               stage "recording", "transcribing" (after the stream ended) or "drafting"
//	               (once, before the final NoteDraft); pending utterances not yet transcribed and
//	               their seconds of audio (how far the transcript is behind); received, seconds
//	               of audio in all
//
// An utterance the engine failed on is a final Results whose transcript is
// a gap marker ("[inaudible 00:12–00:19: transcription failed]"). Its audio
// is kept and retried later (transcription.StreamConfig.LateRetries, and a
// last try when the session ends; a session rebuilt after a restart has the
// gaps already in its transcript retried from the stored audio,
// Stream.RetryGap); a success is sent as another final
// Results with the same start and duration — possibly after Results of
// later utterances — and replaces the marker in the note's transcript. A
// client that keys its transcript by start replaces; one that appends
// shows both, the marker first. A gap still failing at the end stays in the
// note, marked.
//
// A session ends with NoteDraft, NoteReady and Metadata, then a close
// frame, whenever it ends: CloseStream, idle timeout (no audio and no
// KeepAlive for Limits.IdleTimeout), maximum length, an oversized frame,
// gateway shutdown, or the client vanishing (then nothing is sent, but the
// note is still drafted and queued). What was received is never thrown
// away. WebSocket Error codes are in apierror.Codes (Status 0).
//
// Close codes: 1000 normal (CloseStream, idle, maximum length), 1001 gateway
// shutting down, 1009 frame too large, 1011 drafting or storage failed,
// 1012 gateway restarting or the session moved to another gateway
// (resume the session), 1013 try again later (a
// resume came too late and the session is finishing, or audio_not_stored),
// 1007 a text frame that is not UTF-8, 4001 taken over (another
// connection resumed the session; the client must not reconnect).
//
// # Durability and resume
//
// With Options.Audio set, audio is stored as it arrives, off the read
// loop, by one writer that stores every session's pending audio in one
// batch (AudioStore.AppendAudioBatch: group commit) after
// Limits.DurableInterval or once DurableBytes wait, each session's part
// acknowledged with Durable; final utterances are appended to the note's
// transcript log with the audio offset they reach, every
// Limits.TranscriptSaveInterval at most. The upgrade answer carries the session id
// in dg-request-id. A client that lost its connection reconnects with
// session=<id> (and optionally resume=true): its first message is Durable,
// it resends from that offset, and audio the session already holds is
// skipped, so nothing is stored or transcribed twice. A dropped session
// waits Limits.ResumeWindow for its client, then is finished. Recover, at
// start-up, rebuilds the sessions a stopped gateway left recording (the
// transcript so far; the audio after the last final utterance transcribed
// again), and finishes those no client resumes. See durable.go.
package gateway
