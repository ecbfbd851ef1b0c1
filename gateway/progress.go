package gateway

import "time"

// progressInterval is how often a session asked for progress (progress=true)
// says how far its transcript is behind.
const progressInterval = time.Second

// progressMsg (ours) tells a client that asked for it (progress=true) how
// far the transcript is behind what was said, and after CloseStream what
// is left before the note is ready, so a recorder can show it.
type progressMsg struct {
	Type string `json:"type"`
	// Stage is "recording" while audio is taken, "transcribing" after
	// CloseStream while utterances wait for the engine, then "drafting".
	Stage string `json:"stage"`
	// Pending is the utterances cut but not yet transcribed, and
	// PendingSeconds their audio.
	Pending        int     `json:"pending"`
	PendingSeconds float64 `json:"pending_seconds"`
	// Received is the seconds of audio the session has been given.
	Received float64 `json:"received"`
}

// startProgress reports the session's backlog every progressInterval
// until stopProgress. With progress off it does nothing.
func (ss *session) startProgress() {
	if !ss.p.progress || ss.progressStop != nil {
		return
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				stage := "recording"
				ss.takeMu.Lock()
				if ss.stopped {
					stage = "transcribing"
				}
				ss.takeMu.Unlock()
				ss.send(ss.progressNow(stage))
			}
		}
	}()
	ss.progressStop = func() { close(quit); <-done }
}

// stopProgress ends the reports and waits for the reporter, so none
// follows the final draft or the close.
func (ss *session) stopProgress() {
	if ss.progressStop != nil {
		ss.progressStop()
		ss.progressStop = nil
	}
}

func (ss *session) progressNow(stage string) progressMsg {
	n, d := ss.stream.Backlog()
	return progressMsg{Type: "Progress", Stage: stage, Pending: n, PendingSeconds: d.Seconds(),
		Received: (ss.baseTime + ss.stream.Received()).Seconds()}
}
