package gateway

import "time"

// progressInterval is how often a session asked for progress (progress=true)
// says how far its transcript is behind.
const progressInterval = time.Second

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
				ss.conn.Send(ss.text.progress(stage))
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
