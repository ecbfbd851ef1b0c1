package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/scribegate/scribegate/gateway/apierror"
	"github.com/scribegate/scribegate/gateway/wire"
	"github.com/scribegate/scribegate/review"
	"github.com/scribegate/scribegate/transcription"
	"github.com/scribegate/scribegate/transcription/opus"
)

// Pre-recorded audio: POST /v1/listen with a WAV, Ogg Opus or WebM Opus
// file, or raw linear16 (encoding=linear16&sample_rate=N), in the body, as Deepgram's
// pre-recorded API and its SDKs' transcribeFile send it. The file becomes
// a consultation exactly as a stream does: a session with no socket,
// fed the file's audio through the same frames path, drafted, queued,
// and answered in Deepgram's response shape.

// fileChunk is how much of the file each frame of the session carries.
const fileChunk = 32 << 10

// transcribeFile serves POST /v1/listen.
func (s *Server) transcribeFile(w http.ResponseWriter, r *http.Request) {
	claims, _, err := s.authenticate(r, review.RoleClinician)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	if q.Has("session") || q.Has("resume") || q.Has("interim_results") {
		s.writeError(w, r, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeInvalidParameter, Param: "session",
			Message: "session, resume and interim_results are for streaming; a pre-recorded request is one whole consultation"})
		return
	}
	p, err := s.parseListen(r, claims)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.limits.MaxFileBytes)
	audio, err := fileAudio(r, body, &p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	leave, err := s.enter(clinicianKey{claims.Clinic, claims.Subject}, "send the file to another instance")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer leave()

	id := newID()
	ss := s.newSession(id, nil, claims, p)
	var sent []any // what a stream's client would have been sent (the writer's)
	ss.conn.SetSink(func(m any) { sent = append(sent, m) })
	log, ok := ss.open()
	if !ok {
		s.writeError(w, r, apierror.Errorf(http.StatusInternalServerError, apierror.CodeSessionFailed, "the consultation could not be started"))
		return
	}
	end, err := ss.feed(audio)
	if err != nil {
		log.Warn("file upload ended early: what came is drafted", "err", err)
	}
	ss.end(log, end)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.writeError(w, r, apierror.Errorf(http.StatusRequestEntityTooLarge, apierror.CodeBodyTooLarge, "the file is larger than %d bytes; the audio before the limit is drafted as note %s", mbe.Limit, id))
		return
	}
	apierror.WriteJSON(w, http.StatusOK, ss.fileResponse(sent))
}

// feed gives the session the file's audio, frame by frame, as a reader
// does a socket's, and says how the session ends; err is why the upload
// could not be read to its end.
func (ss *session) feed(audio io.Reader) (endReason, error) {
	buf := make([]byte, fileChunk)
	for {
		n, err := io.ReadFull(audio, buf)
		if n > 0 {
			if end, ended := ss.takeFrame(websocket.BinaryMessage, buf[:n]); ended {
				return end, nil
			}
			ss.audio.waitForStore(ss.conn.Stopping())
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return endReason{name: "file", code: websocket.CloseNormalClosure}, nil
		default:
			return endReason{name: "file_incomplete", code: websocket.CloseNormalClosure}, err
		}
	}
}

// fileResponse builds Deepgram's response from what the session sent.
func (ss *session) fileResponse(sent []any) wire.Prerecorded {
	var resp wire.Prerecorded
	alt := wire.Alternative{Words: []wire.Word{}}
	var texts []string
	var conf float64
	resp.Results.Utterances = []wire.Utterance{}
	for _, m := range sent {
		switch m := m.(type) {
		case wire.Results:
			a := m.Channel.Alternatives[0]
			if !m.IsFinal || a.Transcript == "" {
				continue
			}
			texts = append(texts, a.Transcript)
			alt.Words = append(alt.Words, a.Words...)
			conf += a.Confidence
			resp.Results.Utterances = append(resp.Results.Utterances, wire.Utterance{
				Start: m.Start, End: m.Start + m.Duration, Confidence: a.Confidence, Transcript: a.Transcript,
				Words: a.Words, ID: fmt.Sprintf("%s-%d", ss.id, len(resp.Results.Utterances)),
			})
		case wire.NoteReady:
			resp.Metadata.NoteID, resp.Metadata.NoteState, resp.Metadata.ReviewURL = m.NoteID, m.State, m.ReviewURL
		case wire.Metadata:
			resp.Metadata.RequestMetadata = m.RequestMetadata
		case wire.ErrorMessage:
			resp.Metadata.Errors = append(resp.Metadata.Errors, m)
		}
	}
	alt.Transcript = strings.Join(texts, " ")
	if len(texts) > 0 {
		alt.Confidence = conf / float64(len(texts))
	}
	resp.Metadata.Tags = ss.p.dg.tags
	resp.Results.Channels = []wire.Channel{{Alternatives: []wire.Alternative{alt}}}
	return resp
}

// fileAudio reads the upload's format and returns its mono linear16
// audio, setting p's sample rate: a WAV file (any rate from 8 to 48 kHz;
// channels mixed to one), an Ogg Opus or WebM Opus file, or raw linear16 when the query says
// encoding=linear16 (sample_rate, default 16000). Anything else is
// refused with what to send instead.
func fileAudio(r *http.Request, body io.Reader, p *listenParams) (io.Reader, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		return nil, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedEncoding, Param: "url",
			Message: "the gateway does not fetch audio from a URL; send the file itself in the body"}
	}
	br := bufio.NewReaderSize(body, 64<<10)
	if p.encoding == "linear16" {
		return br, nil
	}
	head, _ := br.Peek(12)
	c := sniffContainer(head)
	if c == opus.Ogg || c == opus.WebM {
		return opusFile(c, br, p)
	}
	if c != "wav" {
		return nil, containerError(c, "send a WAV file (16-bit PCM), or raw audio with encoding=linear16&sample_rate=N")
	}
	f, size, err := transcription.ReadWAVHeader(br)
	if err != nil {
		return nil, &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedEncoding, Param: "encoding", Message: "the WAV file cannot be read: " + err.Error()}
	}
	if err := p.takeWAV(f); err != nil {
		return nil, err
	}
	var data io.Reader = br
	if size > 0 && size < 0xffffff00 {
		// Chunks after the data (LIST, id3) are not audio; a recorder
		// that streamed the file leaves the size unset (0 or all ones).
		data = io.LimitReader(br, size)
	}
	if f.Channels == 1 {
		return data, nil
	}
	return &monoReader{r: data, channels: f.Channels}, nil
}

// monoReader mixes interleaved 16-bit channels to one as it reads.
type monoReader struct {
	r        io.Reader
	channels int
	buf      []byte
}

func (m *monoReader) Read(p []byte) (int, error) {
	frame := 2 * m.channels
	n := len(p) / 2 * frame
	if n == 0 {
		return 0, io.ErrShortBuffer
	}
	if cap(m.buf) < n {
		m.buf = make([]byte, n)
	}
	got, err := io.ReadFull(m.r, m.buf[:n])
	got -= got % frame
	samples, _ := transcription.DecodeLinear16(m.buf[:got])
	out := transcription.EncodeLinear16(transcription.MixToMono(samples, m.channels))
	copy(p, out)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	if len(out) > 0 && err == io.EOF {
		err = nil
	}
	return len(out), err
}

// opusFile decodes an Ogg Opus or WebM Opus upload (container c) as it
// is read, at the query's sample_rate if Opus decodes to it, else 16 kHz.
// A file whose start does not decode is refused before it becomes a note.
func opusFile(c string, r io.Reader, p *listenParams) (io.Reader, error) {
	rate := 16000
	if p.sampleRateSet {
		rate = p.sampleRate
	}
	dec, err := opus.NewReader(c, rate, r)
	if err != nil {
		return nil, opusError(c, err)
	}
	br := bufio.NewReaderSize(dec, fileChunk)
	if _, err := br.Peek(1); err != nil && err != io.EOF {
		return nil, opusError(c, err)
	}
	p.sampleRate = rate
	return br, nil
}

// opusError is the client's error for Opus audio in container c that
// cannot be decoded: a gateway built without libopus refuses it as it
// refuses other compressed audio.
func opusError(c string, err error) error {
	if errors.Is(err, opus.ErrUnavailable) {
		return containerError(c, "this gateway was built without libopus; send WAV (16-bit PCM) or raw linear16")
	}
	return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedEncoding, Param: "encoding",
		Message: fmt.Sprintf("the %s audio cannot be decoded: %v", strings.ToUpper(c), err)}
}

// takeWAV checks a WAV file's format against the query and takes its rate.
func (p *listenParams) takeWAV(f transcription.WAVFormat) error {
	if f.SampleRate < 8000 || f.SampleRate > 48000 {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedSampleRate, Param: "sample_rate",
			Message: fmt.Sprintf("the WAV file is at %d Hz; 8000 to 48000 are supported", f.SampleRate)}
	}
	if p.sampleRateSet && p.sampleRate != f.SampleRate {
		return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedSampleRate, Param: "sample_rate",
			Message: fmt.Sprintf("sample_rate=%d, but the WAV file is at %d Hz; leave sample_rate out for a WAV file", p.sampleRate, f.SampleRate)}
	}
	p.sampleRate = f.SampleRate
	return nil
}

// sniffContainer names the container the first bytes of audio are in:
// "wav", another known one ("ogg", "webm", "flac", "mp3", "mp4",
// "aiff"), or "" when they are no known container (raw audio).
func sniffContainer(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return "wav"
	case bytes.HasPrefix(b, []byte("OggS")):
		return "ogg"
	case bytes.HasPrefix(b, []byte{0x1a, 0x45, 0xdf, 0xa3}):
		return "webm"
	case bytes.HasPrefix(b, []byte("fLaC")):
		return "flac"
	case bytes.HasPrefix(b, []byte("ID3")):
		return "mp3"
	case len(b) >= 8 && string(b[4:8]) == "ftyp":
		return "mp4"
	case bytes.HasPrefix(b, []byte("FORM")):
		return "aiff"
	}
	return ""
}

// containerError refuses audio in container c (empty: not one known).
func containerError(c, what string) error {
	msg := "the audio is in no format the gateway reads; " + what
	if c != "" {
		msg = fmt.Sprintf("the audio is %s, which the gateway does not decode; %s", strings.ToUpper(c), what)
	}
	return &apierror.Error{Status: http.StatusBadRequest, Code: apierror.CodeUnsupportedEncoding, Param: "encoding", Message: msg}
}

// sniff looks at a session's first audio for a container (no encoding=
// given): a WAV header is read and dropped, its format checked against
// the session's; Ogg Opus and WebM Opus are decoded, this frame and every
// one after it, at the session's sample rate; another container ends the
// session with a clear Error (close 1003) rather than become a junk note;
// anything else is raw linear16. The reader's, under takeMu.
func (ss *session) sniff(data []byte) ([]byte, endReason) {
	refuse := func(msg string) ([]byte, endReason) {
		return nil, endReason{name: "unsupported_encoding", code: websocket.CloseUnsupportedData, reason: "unsupported audio format",
			errCode: apierror.CodeUnsupportedEncoding, errDesc: msg}
	}
	if ss.opus != nil {
		pcm, err := ss.opus.Decode(nil, data)
		if err != nil {
			// The audio before the bad frame is kept and drafted.
			return refuse(opusError(ss.opus.Container(), err).(*apierror.Error).Message)
		}
		return pcm, endReason{}
	}
	ss.sniffing = false
	c := sniffContainer(data)
	switch {
	case c == "" && ss.p.encoding != "":
		return refuse(fmt.Sprintf("encoding=%s takes Opus in an Ogg or WebM container, and the audio is neither; raw Opus packets are not decoded", ss.p.encoding))
	case c == "":
		return data, endReason{}
	case c == opus.Ogg || c == opus.WebM:
		d, err := opus.NewDecoder(c, ss.p.sampleRate)
		if err != nil && !errors.Is(err, opus.ErrUnavailable) {
			return refuse(fmt.Sprintf("Opus decodes to 8000, 12000, 16000, 24000 or 48000 Hz, not sample_rate=%d; connect with one of them, or without sample_rate", ss.p.sampleRate))
		}
		if err != nil {
			return refuse(opusError(c, err).(*apierror.Error).Message)
		}
		ss.opus = d
		return ss.sniff(data)
	case c == "wav" && ss.p.encoding == "":
	default:
		return refuse(containerError(c, "stream a WAV file (16-bit PCM, mono), Ogg Opus or WebM Opus, or raw audio with encoding=linear16&sample_rate=N").(*apierror.Error).Message)
	}
	r := bytes.NewReader(data)
	f, _, err := transcription.ReadWAVHeader(r)
	if err != nil {
		return refuse("the WAV header could not be read (send it whole in the first message): " + err.Error())
	}
	if f.Channels != 1 || f.SampleRate != ss.p.sampleRate {
		return refuse(fmt.Sprintf("the WAV stream is %d channel(s) at %d Hz; stream mono audio, and connect with sample_rate=%d", f.Channels, f.SampleRate, f.SampleRate))
	}
	return data[len(data)-r.Len():], endReason{}
}
