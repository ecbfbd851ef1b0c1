package rollout

import (
	"fmt"
	"maps"
	"slices"
)

// Pilots are the pilot groups of a phased rollout: by clinic, the groups
// and the clinician ids (JWT sub) in each, so that a clinic compares the
// departments that use the scribe with those that do not yet, or an early
// wave with a later one.
type Pilots map[string]map[string][]string

// Validate refuses a clinician in two groups of one clinic, a group
// without a name or clinicians, and the reserved name Unassigned.
func (p Pilots) Validate() error {
	for _, clinic := range slices.Sorted(maps.Keys(p)) {
		seen := map[string]string{}
		for _, g := range slices.Sorted(maps.Keys(p[clinic])) {
			switch {
			case g == "":
				return fmt.Errorf("rollout: clinic %q: a pilot group has no name", clinic)
			case g == Unassigned:
				return fmt.Errorf("rollout: clinic %q: %q is the name of clinicians in no group", clinic, Unassigned)
			case len(p[clinic][g]) == 0:
				return fmt.Errorf("rollout: clinic %q: pilot group %q lists no clinicians", clinic, g)
			}
			for _, c := range p[clinic][g] {
				if other, ok := seen[c]; ok {
					return fmt.Errorf("rollout: clinic %q: clinician %q is in pilot groups %q and %q", clinic, c, other, g)
				}
				seen[c] = g
			}
		}
	}
	return nil
}

// Of returns the clinic's clinicians and the group of each.
func (p Pilots) Of(clinic string) map[string]string {
	out := map[string]string{}
	for g, cs := range p[clinic] {
		for _, c := range cs {
			out[c] = g
		}
	}
	return out
}

// Clinics lists the clinics that have pilot groups, sorted.
func (p Pilots) Clinics() []string {
	cs := slices.Sorted(maps.Keys(p))
	return slices.DeleteFunc(cs, func(c string) bool { return len(p[c]) == 0 })
}
