package notes

import "github.com/scribegate/scribegate/review/note"
import "context"

// Checked wraps a drafter so that every draft it writes has passed the
// support check (Check) before anyone reads it. Wiring the check here, not
// in each drafter or in the gateway, is what makes "whichever drafter made
// it" true for drafters an integrator adds.
func Checked(d Drafter) Drafter { return checked{d} }

type checked struct{ Drafter }

// Draft drafts with the wrapped drafter and flags unsupported sentences.
func (c checked) Draft(ctx context.Context, t Template, transcript []note.Line) (note.Draft, error) {
	d, err := c.Drafter.Draft(ctx, t, transcript)
	if err != nil {
		return d, err
	}
	return Check(d, transcript), nil
}
