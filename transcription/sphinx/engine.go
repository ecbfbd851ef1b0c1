//go:build cgo

package sphinx

/*
#cgo pkg-config: pocketsphinx
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <pocketsphinx.h>
#include <sphinxbase/err.h>
#include <sphinxbase/logmath.h>

// sphinxbase logs through one process-wide FILE. Given "-logfn", each
// ps_init opens that file and fcloses the one before, which another
// decoder may be writing to at that moment: two decoders made at once
// hung on the freed FILE's lock. Logging is switched off once instead
// (a NULL log), and decoders are made one at a time, as the library's
// other process-wide state (its log level, among others) was not written
// for threads.
static pthread_once_t sg_quiet_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t sg_new_mu = PTHREAD_MUTEX_INITIALIZER;

static void sg_quiet(void) { err_set_logfp(NULL); }

// cmd_ln_init is variadic, which cgo cannot call.
static ps_decoder_t *sg_new(const char *hmm, const char *lm, const char *dict) {
	pthread_once(&sg_quiet_once, sg_quiet);
	pthread_mutex_lock(&sg_new_mu);
	ps_decoder_t *ps = NULL;
	cmd_ln_t *cfg = cmd_ln_init(NULL, ps_args(), TRUE,
		"-hmm", hmm, "-lm", lm, "-dict", dict, NULL);
	if (cfg != NULL) {
		ps = ps_init(cfg);
		cmd_ln_free_r(cfg); // ps_init keeps its own reference
	}
	pthread_mutex_unlock(&sg_new_mu);
	return ps;
}

static double sg_prob(ps_decoder_t *ps, int32 p) {
	return logmath_exp(ps_get_logmath(ps), p);
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/scribegate/scribegate/transcription"
)

// framesPerSecond is PocketSphinx's default analysis rate (-frate 100).
const framesPerSecond = 100

// Engine recognises speech with PocketSphinx. It is safe for concurrent
// use: each call borrows a decoder from a pool.
type Engine struct {
	hmm, lm, dict *C.char

	slots  chan struct{} // one per decoder that may exist
	idle   chan *C.ps_decoder_t
	mu     sync.Mutex // guards closed
	closed bool
}

// New checks the model files and returns an Engine; decoders are loaded on
// first use, so New is cheap. An error wraps ErrModelMissing when the
// model is not installed.
func New(cfg Config) (*Engine, error) {
	hmm, lm, dict, err := cfg.paths()
	if err != nil {
		return nil, err
	}
	if cfg.Decoders <= 0 {
		cfg.Decoders = 2
	}
	return &Engine{
		hmm: C.CString(hmm), lm: C.CString(lm), dict: C.CString(dict),
		slots: make(chan struct{}, cfg.Decoders),
		idle:  make(chan *C.ps_decoder_t, cfg.Decoders),
	}, nil
}

// Close frees the decoders that are idle. Calls in flight finish; their
// decoders are freed when returned.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	for {
		select {
		case d := <-e.idle:
			C.ps_free(d)
		default:
			return nil
		}
	}
}

func (e *Engine) get(ctx context.Context) (*C.ps_decoder_t, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, permanent(errors.New("sphinx: engine is closed"))
	}
	select {
	case d := <-e.idle:
		return d, nil
	default:
	}
	select {
	case d := <-e.idle:
		return d, nil
	case e.slots <- struct{}{}:
		d := C.sg_new(e.hmm, e.lm, e.dict)
		if d == nil {
			<-e.slots
			return nil, errors.New("sphinx: the decoder could not load the model")
		}
		return d, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *Engine) put(d *C.ps_decoder_t) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		C.ps_free(d)
		<-e.slots
		return
	}
	e.idle <- d
}

// Transcribe recognises u, which must be 16 kHz (the model's rate). Word
// times come from the decoder's frames (100 a second); confidences are the
// words' posterior probabilities.
// Errors are permanent *transcription.EngineError, except for ctx's.
func (e *Engine) Transcribe(ctx context.Context, u transcription.Utterance) (transcription.Transcript, error) {
	if u.SampleRate != transcription.EngineSampleRate {
		return transcription.Transcript{}, permanent(fmt.Errorf("sphinx: audio at %d Hz, the model takes %d Hz", u.SampleRate, transcription.EngineSampleRate))
	}
	if lang := strings.ToLower(u.Language); lang != "" && lang != "en" && !strings.HasPrefix(lang, "en-") {
		// An English model on other speech yields English-sounding words
		// that were never said; refuse, so the stream marks a gap instead.
		return transcription.Transcript{}, permanent(fmt.Errorf("sphinx: language %q not supported (model is US English)", u.Language))
	}
	if len(u.Samples) == 0 {
		return transcription.Transcript{}, nil
	}
	d, err := e.get(ctx)
	if err != nil {
		return transcription.Transcript{}, err
	}
	defer e.put(d)

	if C.ps_start_utt(d) < 0 {
		return transcription.Transcript{}, permanent(errors.New("sphinx: start utterance failed"))
	}
	// One call with full_utt: the model normalises cepstra over the whole
	// utterance (-cmn batch), which chunked decoding would defeat. An
	// utterance is at most MaxUtterance long, so a cancel waits for at
	// most that much decoding.
	if err := ctx.Err(); err != nil {
		C.ps_end_utt(d)
		return transcription.Transcript{}, err
	}
	if C.ps_process_raw(d, (*C.int16)(unsafe.Pointer(&u.Samples[0])), C.size_t(len(u.Samples)), C.FALSE, C.TRUE) < 0 {
		C.ps_end_utt(d)
		return transcription.Transcript{}, permanent(errors.New("sphinx: decoding failed"))
	}
	if C.ps_end_utt(d) < 0 {
		return transcription.Transcript{}, permanent(errors.New("sphinx: end utterance failed"))
	}

	var score C.int32
	if C.ps_get_hyp(d, &score) == nil {
		return transcription.Transcript{}, nil // nothing recognised
	}
	frame := func(f C.int) time.Duration { return u.Start + time.Duration(f)*time.Second/framesPerSecond }
	var t transcription.Transcript
	var text []string
	for seg := C.ps_seg_iter(d); seg != nil; seg = C.ps_seg_next(seg) {
		w, ok := cleanWord(C.GoString(C.ps_seg_word(seg)))
		if !ok {
			continue
		}
		var sf, ef C.int
		C.ps_seg_frames(seg, &sf, &ef)
		var ascr, lscr, lback C.int32
		p := float64(C.sg_prob(d, C.ps_seg_prob(seg, &ascr, &lscr, &lback)))
		t.Words = append(t.Words, transcription.Word{Word: w, Start: frame(sf), End: frame(ef + 1), Confidence: clamp01(p)})
		text = append(text, w)
	}
	if len(text) == 0 {
		return transcription.Transcript{}, nil
	}
	// The utterance posterior (ps_get_prob) shrinks with every word, so a
	// long sentence would look doubtful; the mean word posterior does not.
	var sum float64
	for _, w := range t.Words {
		sum += w.Confidence
	}
	t.Text = strings.Join(text, " ")
	t.Confidence = sum / float64(len(t.Words))
	return t, nil
}

// cleanWord drops fillers and silences (<s>, </s>, <sil>, [NOISE],
// ++BREATH++) and strips alternate-pronunciation marks: "read(2)" → "read".
func cleanWord(w string) (string, bool) {
	if w == "" || strings.HasPrefix(w, "<") || strings.HasPrefix(w, "[") || strings.HasPrefix(w, "++") {
		return "", false
	}
	if i := strings.IndexByte(w, '('); i > 0 && strings.HasSuffix(w, ")") {
		w = w[:i]
	}
	return w, true
}

func clamp01(p float64) float64 { return max(0, min(1, p)) }

func permanent(err error) error {
	return &transcription.EngineError{Err: err}
}
