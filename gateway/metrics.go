package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's collectors, registered on the registry the
// operator passed in.
type metrics struct {
	sessionsActive prometheus.Gauge
	sessionsTotal  *prometheus.CounterVec
	audioSeconds   prometheus.Counter
	resultsSent    prometheus.Counter
	gapsRecovered  prometheus.Counter
	leasesLost     prometheus.Counter
	// liveDraftsDeferred counts live drafts put off because live drafts
	// had spent their share of the CPUs (Limits.LiveDraftShare).
	liveDraftsDeferred prometheus.Counter
	errors             *prometheus.CounterVec
	// storeSeconds times each batch's AppendAudioBatch; durableLag is
	// from a batch's first audio waiting to its Durables sent, the
	// gateway's part of a client's Durable latency.
	storeSeconds prometheus.Histogram
	durableLag   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessionsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scribegate_sessions_active", Help: "Streaming sessions currently open or finishing.",
		}),
		sessionsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scribegate_sessions_total", Help: "Streaming sessions finished, by how they ended.",
		}, []string{"end"}),
		audioSeconds:  counter("scribegate_audio_seconds_received_total", "Seconds of audio received from streaming clients."),
		resultsSent:   counter("scribegate_results_sent_total", "Results messages sent to streaming clients."),
		gapsRecovered: counter("scribegate_gaps_recovered_total", "Utterances that became gap markers and were recognised on a late retry."),
		leasesLost: counter("scribegate_session_leases_lost_total",
			"Session leases found held by another gateway when renewed (this one was cut off from the store for longer than a lease)."),
		liveDraftsDeferred: counter("scribegate_live_drafts_deferred_total",
			"Live drafts put off to a later interval because live drafts had spent their share of the CPUs."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scribegate_errors_total", Help: "Errors answered to clients, by stable error code.",
		}, []string{"code"}),
		storeSeconds: storeLatency("scribegate_audio_store_seconds",
			"Time the audio store took to write one batch of every session's pending audio."),
		durableLag: storeLatency("scribegate_durable_lag_seconds",
			"From a batch's first audio waiting for the store to every Durable of the batch sent (at least durable_interval)."),
	}
	for _, c := range []prometheus.Collector{m.sessionsActive, m.sessionsTotal, m.audioSeconds, m.resultsSent, m.gapsRecovered, m.leasesLost, m.liveDraftsDeferred, m.errors, m.storeSeconds, m.durableLag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (s *Server) metricsHandler() http.Handler {
	gauge := func(name, help string, value func() float64) {
		s.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, value))
	}
	// Audio held is summed over the sessions when scraped, which costs
	// the streams nothing per frame.
	gauge("scribegate_audio_buffered_bytes",
		"Bytes of audio the streaming sessions hold in memory: utterances in progress or waiting for the engine, and audio not yet stored.",
		s.audioBuffered)
	gauge("scribegate_audio_pool_idle_bytes",
		"Bytes of idle audio buffers the streams keep for reuse (at most 32 KiB per streaming.max_sessions).",
		func() float64 { return float64(s.bufs.Stats().IdleBytes) })
	// A limited engine (transcription.Limit) says how busy it is: calls
	// that wait for long mean the limit or the engine is too small.
	if e, ok := s.opts.Engine.(engineLoad); ok {
		gauge("scribegate_engine_calls_in_flight",
			"Speech-to-text calls with the engine now, across every session (at most transcription.max_concurrent).",
			func() float64 { return float64(e.InFlight()) })
		gauge("scribegate_engine_calls_waiting",
			"Speech-to-text calls waiting for a free slot under transcription.max_concurrent.",
			func() float64 { return float64(e.Waiting()) })
	}
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}

// counter is a plain counter named name, described by help.
func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

// storeLatency is a histogram of store latencies, 0.5 ms to 2 s.
func storeLatency(name, help string) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: name, Help: help, Buckets: prometheus.ExponentialBuckets(0.0005, 2, 13),
	})
}

// engineLoad is what transcription.LimitedEngine tells about its calls.
type engineLoad interface {
	InFlight() int
	Waiting() int
}

// audioBuffered is the audio every session holds in memory, so that what
// the gateway uses per session beyond its audio can be measured.
func (s *Server) audioBuffered() float64 {
	s.recs.mu.Lock()
	sessions := make([]*session, 0, len(s.recs.byID))
	for _, ss := range s.recs.byID {
		sessions = append(sessions, ss)
	}
	s.recs.mu.Unlock()
	var n int
	for _, ss := range sessions {
		n += ss.buffered()
	}
	return float64(n)
}
