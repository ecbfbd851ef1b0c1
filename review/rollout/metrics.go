package rollout

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the figures of a trailing window (the last 30 days,
// say) as Prometheus gauges, for every clinic with pilot groups, by
// clinic and pilot group: labels name clinics, groups, connectors and
// reason codes, never a clinician or a patient. It computes them when
// scraped, from a Reader whose cache makes that cheap.
type Collector struct {
	reader *Reader
	pilots Pilots
	window time.Duration
	// Now is the clock (time.Now); tests pin it.
	Now func() time.Time

	visits, consult, notes, turnaround, backlog, editRate, flags, failures *prometheus.Desc
}

// NewCollector returns a Collector of the pilots' clinics over window.
func NewCollector(r *Reader, p Pilots, window time.Duration) *Collector {
	cg := []string{"clinic", "group"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("scribegate_rollout_"+name, help, append(cg[:2:2], labels...), nil)
	}
	return &Collector{
		reader: r, pilots: p, window: window, Now: time.Now,
		visits:     d("visits", "Visits recorded (notes created) in the trailing window."),
		consult:    d("consultation_minutes", "Minutes of consultation recorded in the trailing window."),
		notes:      d("notes", "Notes of the window's visits approved, pushed (filed) and rejected by now.", "outcome"),
		turnaround: d("turnaround_minutes", "Minutes from the end of a visit (draft ready) to approval or to the note filed, median and 90th percentile over the window's visits.", "to", "quantile"),
		backlog:    d("backlog_notes", "Notes waiting for review now, and those waiting longer than 24 h and 72 h.", "waiting"),
		editRate:   d("edit_rate", "Share of drafted sentences (unit=sentence) or words (unit=word, edit distance) clinicians changed before approval, over the window's approved visits.", "unit"),
		flags:      d("flags", "Support-check flags raised on the window's drafts and edits, and acknowledged at approval.", "kind"),
		failures: prometheus.NewDesc("scribegate_rollout_push_failures",
			"Failed push attempts of the window's visits, by connector and reason (transient, permanent, gave_up).",
			[]string{"clinic", "connector", "reason"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.visits, c.consult, c.notes, c.turnaround, c.backlog, c.editRate, c.flags, c.failures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A clinic whose rows cannot be
// read reports the error in place of its series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	until := c.Now().UTC()
	since := until.Add(-c.window)
	g := prometheus.GaugeValue
	for _, clinic := range c.pilots.Clinics() {
		rows, err := c.reader.Read(ctx, clinic, since, until)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.visits, err)
			continue
		}
		r := Compute(rows, Query{Clinic: clinic, Since: since, Until: until, Groups: c.pilots.Of(clinic)})
		for _, f := range r.Groups {
			l := []string{clinic, f.Key}
			with := func(more ...string) []string { return append(l[:2:2], more...) }
			ch <- prometheus.MustNewConstMetric(c.visits, g, float64(f.Visits), l...)
			ch <- prometheus.MustNewConstMetric(c.consult, g, f.ConsultMinutes, l...)
			ch <- prometheus.MustNewConstMetric(c.notes, g, float64(f.Approved), with("approved")...)
			ch <- prometheus.MustNewConstMetric(c.notes, g, float64(f.Pushed), with("pushed")...)
			ch <- prometheus.MustNewConstMetric(c.notes, g, float64(f.Rejected), with("rejected")...)
			ch <- prometheus.MustNewConstMetric(c.turnaround, g, f.ToApproval.Median, with("approved", "0.5")...)
			ch <- prometheus.MustNewConstMetric(c.turnaround, g, f.ToApproval.P90, with("approved", "0.9")...)
			ch <- prometheus.MustNewConstMetric(c.turnaround, g, f.ToPush.Median, with("pushed", "0.5")...)
			ch <- prometheus.MustNewConstMetric(c.turnaround, g, f.ToPush.P90, with("pushed", "0.9")...)
			ch <- prometheus.MustNewConstMetric(c.backlog, g, float64(f.Pending), with("any")...)
			ch <- prometheus.MustNewConstMetric(c.backlog, g, float64(f.Over24h), with("over_24h")...)
			ch <- prometheus.MustNewConstMetric(c.backlog, g, float64(f.Over72h), with("over_72h")...)
			ch <- prometheus.MustNewConstMetric(c.editRate, g, f.EditRate, with("sentence")...)
			ch <- prometheus.MustNewConstMetric(c.editRate, g, f.WordEditRate, with("word")...)
			ch <- prometheus.MustNewConstMetric(c.flags, g, float64(f.FlagsRaised), with("raised")...)
			ch <- prometheus.MustNewConstMetric(c.flags, g, float64(f.FlagsAcknowledged), with("acknowledged")...)
		}
		for _, f := range r.PushFailures {
			ch <- prometheus.MustNewConstMetric(c.failures, g, float64(f.Count), clinic, f.Connector, f.Reason)
		}
	}
}
