package connectors

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Problems gathers what is wrong with an instance's settings, so that a
// connector's New reports every mistake at start-up at once rather than
// the first of them, each named by its key.
type Problems []string

// Addf notes a problem.
func (p *Problems) Addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Require notes key as missing when v is blank.
func (p *Problems) Require(key, v string) {
	if strings.TrimSpace(v) == "" {
		p.Addf("%s is required", key)
	}
}

// HTTPURL notes key when v is set and is not an absolute http(s) URL
// (whether plain http may be used is the gateway's rule, not ours).
func (p *Problems) HTTPURL(key, v string) {
	if v == "" {
		return
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.Addf("%s must be an absolute http(s) URL", key)
	}
}

// RequireURL notes key when v is blank or not an absolute http(s) URL.
func (p *Problems) RequireURL(key, v string) {
	p.Require(key, v)
	p.HTTPURL(key, v)
}

// Timeout is Timeout(d, def), the problem noted rather than returned.
func (p *Problems) Timeout(d, def time.Duration) time.Duration {
	t, err := Timeout(d, def)
	if err != nil {
		*p = append(*p, err.Error())
	}
	return t
}

// Err is nil when nothing was noted, else one error "kind: a; b".
func (p Problems) Err(kind string) error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(kind + ": " + strings.Join(p, "; "))
}
