package rollout

import (
	"encoding/csv"
	"io"
	"strconv"
)

// csvHeader names the columns of WriteCSV, one per Figures field.
var csvHeader = []string{
	"scope", "key", "group", "visits", "consult_minutes",
	"approved", "to_approval_median_minutes", "to_approval_p90_minutes",
	"pushed", "to_push_median_minutes", "to_push_p90_minutes",
	"pending", "pending_over_24h", "pending_over_72h",
	"draft_sentences", "sentences_changed", "sentences_added", "sentences_removed", "edit_rate",
	"draft_words", "word_edits", "word_edit_rate",
	"flags_raised", "flags_acknowledged", "push_failures", "rejected",
}

// WriteCSV writes the report's figures as CSV, a row each for the clinic
// (scope "clinic"), every pilot group ("group") and every clinician or
// template (the report's GroupBy), for a spreadsheet.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	write := func(scope string, f Figures) error {
		fl := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
		it := strconv.Itoa
		return cw.Write([]string{
			scope, f.Key, f.Group, it(f.Visits), fl(f.ConsultMinutes),
			it(f.Approved), fl(f.ToApproval.Median), fl(f.ToApproval.P90),
			it(f.Pushed), fl(f.ToPush.Median), fl(f.ToPush.P90),
			it(f.Pending), it(f.Over24h), it(f.Over72h),
			it(f.DraftSentences), it(f.SentencesChanged), it(f.SentencesAdded), it(f.SentencesRemoved), fl(f.EditRate),
			it(f.DraftWords), it(f.WordEdits), fl(f.WordEditRate),
			it(f.FlagsRaised), it(f.FlagsAcknowledged), it(f.PushFailures), it(f.Rejected),
		})
	}
	if err := write("clinic", r.Total); err != nil {
		return err
	}
	for _, g := range r.Groups {
		if err := write("group", g); err != nil {
			return err
		}
	}
	for _, f := range r.Rows {
		if err := write(r.GroupBy, f); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
