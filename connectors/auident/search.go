package auident

import (
	"fmt"
	"strings"
)

// PatientSearchParam says how an Australian FHIR server (Halo Connect for
// Bp Premier, Gentu's partner API) is searched for the patient a
// clinician's lookup names: an IHI or a Medicare number (written as
// ParsePatient reads them, or bare and spaced as on the card) as
// identifier=system|value with the AU Base system, the practice system's
// own id as _id. A value that can only be a mistyped card number is an
// error wrapping ErrInvalid that says what is wrong, so the clinician is
// told rather than shown no match: digits typed with spaces or hyphens
// (an EHR's id is never written so) that are no valid IHI or Medicare
// number, 16 digits in the healthcare-identifier range (8003…) with a
// wrong prefix or check digit, and 10 or 11 digits beginning 2 to 6 (the
// shape of a Medicare number) with a wrong check digit. A provider's
// number is refused too. It is a fhirclient.IdentifierParam.
func PatientSearchParam(identifier string) (param, value string, err error) {
	raw := strings.TrimSpace(identifier)
	if v := Normalize(raw); v != "" && allDigits(v) {
		spaced := v != raw
		switch {
		case len(v) == 16 && strings.HasPrefix(v, "8003"):
			if !strings.HasPrefix(v, prefixHPII) && !strings.HasPrefix(v, prefixHPIO) {
				if err := Validate(IHI, v); err != nil {
					return "", "", err
				}
				return "identifier", SystemIHI + "|" + v, nil
			}
		case (len(v) == 10 || len(v) == 11) && v[0] >= '2' && v[0] <= '6', spaced:
			if err := ValidateMedicare(v); err != nil {
				if spaced {
					return "", "", fmt.Errorf("%w: not an IHI (16 digits) or a Medicare number (10 digits, 11 with the reference number)", ErrInvalid)
				}
				return "", "", err
			}
			return "identifier", SystemMedicare + "|" + v, nil
		}
	}
	r, err := ParsePatient(identifier)
	if err != nil {
		return "", "", err
	}
	if r.Kind == "" {
		return "_id", r.Value, nil
	}
	return "identifier", r.System() + "|" + r.Value, nil
}
