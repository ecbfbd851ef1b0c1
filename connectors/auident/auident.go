// Package auident validates the Australian healthcare identifiers that the
// Australian connectors put on documents, so a mistyped number is refused
// with a clear error before it reaches an EHR rather than filed against the
// wrong person (or nobody).
//
// Sources:
//   - Healthcare Identifiers (IHI, HPI-I, HPI-O): 16 digits; the first six
//     are the ISO 7812 issuer prefix (800360 individual, 800361 provider
//     individual, 800362 provider organisation) and the last is a Luhn check
//     digit (Services Australia, "Healthcare Identifiers Service - technical
//     specifications"; AU Base IG, "Identifier profiles":
//     https://build.fhir.org/ig/hl7au/au-fhir-base/profiles-identifier.html).
//   - Medicare card number: 10 digits (an 11th, the individual reference
//     number, may follow); the first is 2-6, the ninth is a check digit: the
//     sum of the first eight weighted 1,3,7,9,1,3,7,9, modulo 10; the tenth
//     is the card issue number (AU Base, "AU Medicare Card Number").
package auident

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scribegate/scribegate/connectors"
)

// Identifier systems from the AU Base implementation guide. They are what
// AU FHIR servers (Halo Connect for Bp Premier among them) match on.
const (
	SystemIHI      = "http://ns.electronichealth.net.au/id/hi/ihi/1.0"
	SystemHPII     = "http://ns.electronichealth.net.au/id/hi/hpii/1.0"
	SystemHPIO     = "http://ns.electronichealth.net.au/id/hi/hpio/1.0"
	SystemMedicare = "http://ns.electronichealth.net.au/id/medicare-number"
)

// Issuer prefixes of the three healthcare identifier kinds.
const (
	prefixIHI  = "800360"
	prefixHPII = "800361"
	prefixHPIO = "800362"
)

// ErrInvalid is wrapped by every validation failure, so callers can tell a
// bad identifier (the clinician's data, permanent) from other errors.
var ErrInvalid = errors.New("invalid Australian healthcare identifier")

// Kind names an identifier kind for messages and parsing.
type Kind string

// Identifier kinds understood by Parse.
const (
	IHI      Kind = "ihi"
	HPII     Kind = "hpii"
	HPIO     Kind = "hpio"
	Medicare Kind = "medicare"
)

// System returns the FHIR identifier system of k.
func (k Kind) System() string {
	switch k {
	case IHI:
		return SystemIHI
	case HPII:
		return SystemHPII
	case HPIO:
		return SystemHPIO
	case Medicare:
		return SystemMedicare
	}
	return ""
}

// Validate checks value as an identifier of kind k. Spaces are not
// tolerated: normalise input with Normalize first.
func Validate(k Kind, value string) error {
	switch k {
	case IHI:
		return validateHI(value, prefixIHI, "IHI")
	case HPII:
		return validateHI(value, prefixHPII, "HPI-I")
	case HPIO:
		return validateHI(value, prefixHPIO, "HPI-O")
	case Medicare:
		return ValidateMedicare(value)
	}
	return fmt.Errorf("%w: unknown kind %q", ErrInvalid, k)
}

// Normalize removes the spaces and hyphens people type into identifiers
// ("8003 6081 6669 0503").
func Normalize(s string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s))
}

func validateHI(v, prefix, name string) error {
	if len(v) != 16 || !allDigits(v) {
		return fmt.Errorf("%w: %s must be 16 digits", ErrInvalid, name)
	}
	if !strings.HasPrefix(v, prefix) {
		return fmt.Errorf("%w: %s must start with %s", ErrInvalid, name, prefix)
	}
	if !luhn(v) {
		return fmt.Errorf("%w: %s check digit is wrong (Luhn)", ErrInvalid, name)
	}
	return nil
}

// ValidateMedicare checks a 10-digit Medicare card number, or 11 digits
// with the individual reference number.
func ValidateMedicare(v string) error {
	if (len(v) != 10 && len(v) != 11) || !allDigits(v) {
		return fmt.Errorf("%w: Medicare number must be 10 digits (11 with the reference number)", ErrInvalid)
	}
	if v[0] < '2' || v[0] > '6' {
		return fmt.Errorf("%w: Medicare number must start with 2 to 6", ErrInvalid)
	}
	weights := [8]int{1, 3, 7, 9, 1, 3, 7, 9}
	sum := 0
	for i, w := range weights {
		sum += int(v[i]-'0') * w
	}
	if sum%10 != int(v[8]-'0') {
		return fmt.Errorf("%w: Medicare number check digit is wrong", ErrInvalid)
	}
	if len(v) == 11 && v[10] == '0' {
		return fmt.Errorf("%w: Medicare individual reference number must be 1 to 9", ErrInvalid)
	}
	return nil
}

// Ref is a reference to a person by identifier or by the EHR's own id.
type Ref struct {
	// Kind is empty for an EHR logical id.
	Kind  Kind
	Value string
}

// System returns the FHIR identifier system, or "" for a logical id.
func (r Ref) System() string { return r.Kind.System() }

// Parse reads how the gateway names an Australian patient or practitioner
// in Document.Patient / Document.Author: a bare EHR logical id ("1234"), a
// kind-prefixed identifier ("ihi:8003608166690503", "medicare:2123456701",
// "hpii:8003611566712356"), or a FHIR token ("system|value"). Identifiers
// are normalised and validated; a malformed one is an error wrapping
// ErrInvalid.
func Parse(s string) (Ref, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty reference", ErrInvalid)
	}
	var k Kind
	var v string
	if sys, val, ok := strings.Cut(s, "|"); ok {
		for _, c := range []Kind{IHI, HPII, HPIO, Medicare} {
			if c.System() == sys {
				k = c
			}
		}
		if k == "" {
			// The typed text stays out of the error: it reaches logs
			// and push_error, and may be a patient's name.
			return Ref{}, fmt.Errorf("%w: unknown identifier system (want the IHI, Medicare, HPI-I or HPI-O system)", ErrInvalid)
		}
		v = val
	} else if pre, val, ok := strings.Cut(s, ":"); ok && !strings.Contains(pre, "/") {
		k = Kind(strings.ToLower(pre))
		if k.System() == "" {
			return Ref{}, fmt.Errorf("%w: unknown identifier kind (want ihi:, medicare:, hpii: or hpio:)", ErrInvalid)
		}
		v = val
	} else {
		return Ref{Value: s}, nil
	}
	v = Normalize(v)
	if err := Validate(k, v); err != nil {
		return Ref{}, err
	}
	return Ref{Kind: k, Value: v}, nil
}

// ParsePatient is Parse for a patient reference. A bare 16-digit number
// in the healthcare-identifier range is read as what it is whatever form
// it came in: an IHI (validated, so a mistyped check digit is caught)
// rather than an EHR's internal id; a provider identifier (HPI-I, HPI-O)
// is refused, in any form, because it names a clinician or an
// organisation, not a patient. Any other bare value is the EHR's own
// patient id and must be a FHIR logical id (what AU EHRs and Halo use).
func ParsePatient(s string) (Ref, error) {
	r, err := Parse(s)
	if err != nil {
		return r, err
	}
	if r.Kind == "" {
		switch v := Normalize(r.Value); {
		case len(v) == 16 && allDigits(v) && strings.HasPrefix(v, prefixIHI):
			if err := Validate(IHI, v); err != nil {
				return Ref{}, err
			}
			return Ref{Kind: IHI, Value: v}, nil
		case len(v) == 16 && allDigits(v) && (strings.HasPrefix(v, prefixHPII) || strings.HasPrefix(v, prefixHPIO)):
			r.Kind = HPII
		default:
			if err := connectors.CheckFHIRID(r.Value); err != nil {
				return Ref{}, fmt.Errorf("%w: %w", ErrInvalid, err)
			}
		}
	}
	if r.Kind == HPII || r.Kind == HPIO {
		return Ref{}, fmt.Errorf("%w: a provider identifier (HPI-I or HPI-O) is not a patient identifier", ErrInvalid)
	}
	return r, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// luhn reports whether the last digit of s is the Luhn check digit of the
// rest.
func luhn(s string) bool {
	sum := 0
	double := false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
