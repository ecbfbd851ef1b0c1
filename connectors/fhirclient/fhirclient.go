// Package fhirclient is the small FHIR R4 REST client every FHIR-speaking
// connector shares: create (optionally conditional, with If-None-Exist),
// search, read, and the classification of failures into
// *connectors.PushError.
//
// Where retries live: not here. A connector makes one attempt per Push and
// classifies what went wrong — network errors, 408, 425, 429 and 5xx are
// transient (with the server's Retry-After), other 4xx are permanent with
// the server's OperationOutcome text as the message. The review push worker
// retries transient failures with backoff and jitter, so there is exactly
// one retry loop, visible in one place, bounded by the note's outbox. The
// one exception is authentication: a 401 makes the client fetch a fresh
// token and resend once, because an expired token is not a failure anyone
// should see.
package fhirclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/scribegate/scribegate/connectors"
	"github.com/scribegate/scribegate/connectors/fhirdoc"
)

// DefaultTimeout bounds one HTTP request when a Client names no Timeout.
const DefaultTimeout = 30 * time.Second

// DefaultUserAgent identifies scribegate to EHRs (their logs, their support).
const DefaultUserAgent = "scribegate/1 (+https://github.com/scribegate/scribegate)"

// maxBody bounds how much of a reply is read.
const maxBody = 8 << 20

// Paging defaults for Search: the _count asked for when the query names
// none, and how many pages are read before the search gives up.
const (
	DefaultPageSize = 100
	DefaultMaxPages = 50
)

// ErrSearchTruncated is wrapped by a Search that stopped at its page
// limit (or met a next link it will not follow): the result is partial, and
// a connector looking for an earlier push must not take it as proof that
// there was none.
var ErrSearchTruncated = errors.New("fhirclient: search result truncated")

// Auth adds credentials to a request. refresh is true when the server
// rejected the previous credentials with 401: drop any cached token.
type Auth interface {
	Authorize(ctx context.Context, r *http.Request, refresh bool) error
}

// TokenFunc is an Auth that sends a bearer token.
type TokenFunc func(ctx context.Context, refresh bool) (string, error)

// Authorize sets the Authorization header.
func (f TokenFunc) Authorize(ctx context.Context, r *http.Request, refresh bool) error {
	tok, err := f(ctx, refresh)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// StaticToken is an Auth with one unchanging bearer token.
func StaticToken(token string) Auth {
	return TokenFunc(func(context.Context, bool) (string, error) { return token, nil })
}

// CachedToken wraps a token endpoint call (SMART Backend Services, OAuth2
// client credentials) in a cache: the token is reused until a minute before
// it expires, or until the server answers 401. Concurrent callers share one
// fetch.
func CachedToken(fetch func(ctx context.Context) (token string, expiresIn time.Duration, err error)) TokenFunc {
	var (
		mu      sync.Mutex
		token   string
		expires time.Time
	)
	return func(ctx context.Context, refresh bool) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if !refresh && token != "" && time.Until(expires) > time.Minute {
			return token, nil
		}
		t, in, err := fetch(ctx)
		if err != nil {
			token = ""
			return "", err
		}
		token, expires = t, time.Now().Add(in)
		return token, nil
	}
}

// ClientCredentials is the fetch CachedToken wraps for an OAuth 2.0 client
// credentials grant (connectors.ClientCredentials.Grant): a token from cc,
// asked for through hc, and its lifetime, five minutes when the endpoint
// gives no expires_in. A failure is transient and names who:
// connectors.TokenRefused's words when the endpoint refused,
// "<who> token endpoint did not answer" when it did not.
func ClientCredentials(cc *clientcredentials.Config, hc *http.Client, who string) func(context.Context) (string, time.Duration, error) {
	return func(ctx context.Context) (string, time.Duration, error) {
		tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
		if err != nil {
			if refused := connectors.TokenRefused(who, err); refused != nil {
				return "", 0, refused
			}
			return "", 0, &connectors.PushError{Message: who + " token endpoint did not answer", Err: err}
		}
		life := 5 * time.Minute
		if !tok.Expiry.IsZero() {
			life = time.Until(tok.Expiry)
		}
		return tok.AccessToken, life, nil
	}
}

// Client talks to one FHIR R4 base URL. Its zero value is not usable; set
// Base. A Client is safe for concurrent use.
type Client struct {
	// Base is the FHIR base URL ("https://ehr.example/api/FHIR/R4").
	Base string
	// HTTP sends the requests; nil means http.DefaultClient (the per-request
	// Timeout still applies).
	HTTP *http.Client
	// Auth, if set, authorizes every request.
	Auth Auth
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// UserAgent, empty means DefaultUserAgent.
	UserAgent string
	// Header is sent with every request (e.g. athenahealth's ah-practice,
	// a gateway subscription key).
	Header http.Header
	// PageSize is the _count a Search asks for when its query names none;
	// 0 means DefaultPageSize, negative sends none.
	PageSize int
	// MaxPages bounds the pages one Search reads; 0 means DefaultMaxPages.
	MaxPages int
}

// Response is a FHIR server's reply.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends one request, authorizing it and re-authorizing once after a 401.
// A non-2xx reply or a network failure is returned as *connectors.PushError;
// a cancelled or expired ctx is a PushError wrapping ctx.Err().
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, header http.Header, body []byte) (*Response, error) {
	u := strings.TrimSuffix(c.Base, "/") + "/" + strings.TrimPrefix(path, "/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return c.send(ctx, method, u, header, body)
}

// send is Do on a full URL.
func (c *Client) send(ctx context.Context, method, u string, header http.Header, body []byte) (*Response, error) {
	resp, err := c.do(ctx, method, u, header, body, false)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && c.Auth != nil {
		resp, err = c.do(ctx, method, u, header, body, true)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, StatusError(resp.StatusCode, resp.Header, resp.Body)
	}
	return resp, nil
}

func (c *Client) do(ctx context.Context, method, u string, header http.Header, body []byte, refresh bool) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, &connectors.PushError{Message: "push cancelled", Err: err}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, &connectors.PushError{Permanent: true, Message: "bad request URL", Err: err}
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	ua := c.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	if c.Auth != nil {
		if err := c.Auth.Authorize(ctx, req, refresh); err != nil {
			var pe *connectors.PushError
			if errors.As(err, &pe) {
				return nil, err
			}
			return nil, &connectors.PushError{Message: "authorization failed", Err: err}
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, NetworkError(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, NetworkError(ctx, err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// NetworkError classifies a failure to get a reply: transient, wrapping the
// context's error when that is the cause so errors.Is(err,
// context.Canceled) holds.
func NetworkError(ctx context.Context, err error) *connectors.PushError {
	if cerr := ctx.Err(); cerr != nil {
		return &connectors.PushError{Message: "push cancelled or timed out", Err: errors.Join(cerr, err)}
	}
	return &connectors.PushError{Message: "no reply from the EHR: " + err.Error(), Err: err}
}

// StatusError classifies a non-2xx reply. 408, 425, 429 and 5xx are
// transient; other statuses are permanent. Message is the
// OperationOutcome's text, or the start of a plain-text body.
func StatusError(status int, h http.Header, body []byte) *connectors.PushError {
	msg, ok := fhirdoc.ParseOperationOutcome(body)
	if !ok || msg == "" {
		msg = strings.TrimSpace(string(body))
		if len(msg) > 300 || strings.HasPrefix(msg, "<") {
			msg = ""
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	transient := status == http.StatusRequestTimeout || status == http.StatusTooEarly ||
		status == http.StatusTooManyRequests || status >= 500
	return &connectors.PushError{
		Permanent:  !transient,
		StatusCode: status,
		Message:    msg,
		RetryAfter: RetryAfter(h, time.Now()),
		Err:        fmt.Errorf("fhirclient: HTTP %d", status),
	}
}

// RetryAfter parses a Retry-After header (seconds or an HTTP date).
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Created is the outcome of a create.
type Created struct {
	// ID is the new (or, for a conditional create that matched, the
	// existing) resource's logical id; empty if the server told neither in
	// its Location nor its body.
	ID       string
	Location string
	// Existing is true when a conditional create matched a resource already
	// there (HTTP 200): nothing new was made.
	Existing bool
	Response *Response
}

// Create posts a resource. With ifNoneExist (a search query such as
// "identifier=system|value") the server creates it only if nothing matches.
func (c *Client) Create(ctx context.Context, resourceType string, body []byte, ifNoneExist string) (Created, error) {
	h := http.Header{}
	if ifNoneExist != "" {
		h.Set("If-None-Exist", ifNoneExist)
	}
	resp, err := c.Do(ctx, http.MethodPost, resourceType, nil, h, body)
	if err != nil {
		return Created{}, err
	}
	cr := Created{Location: resp.Header.Get("Location"), Existing: resp.StatusCode == http.StatusOK, Response: resp}
	if cr.Location == "" {
		cr.Location = resp.Header.Get("Content-Location")
	}
	cr.ID = IDFromLocation(resourceType, cr.Location)
	if cr.ID == "" && len(resp.Body) > 0 {
		if r, err := fhirdoc.DecodeLenient(resp.Body); err == nil && r.ResourceType == resourceType {
			cr.ID = r.ID
		}
	}
	return cr, nil
}

// Search runs a type-level search and returns the whole searchset: it asks
// for PageSize entries a page (_count) unless the query says, and follows
// Bundle.link[next] (https://hl7.org/fhir/R4/http.html#paging) page after
// page, returning every entry in one Bundle. A result with more than
// MaxPages pages, or a next link off the server's base, is a transient
// failure wrapping ErrSearchTruncated, never a partial answer: a connector
// that looks for an earlier push before creating must not read "not on the
// first page" as "not there".
func (c *Client) Search(ctx context.Context, resourceType string, query url.Values) (fhirdoc.Bundle, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	if size := c.PageSize; size >= 0 && !q.Has("_count") {
		if size == 0 {
			size = DefaultPageSize
		}
		q.Set("_count", strconv.Itoa(size))
	}
	maxPages := c.MaxPages
	if maxPages <= 0 {
		maxPages = DefaultMaxPages
	}
	resp, err := c.Do(ctx, http.MethodGet, resourceType, q, nil, nil)
	if err != nil {
		return fhirdoc.Bundle{}, err
	}
	all, err := decodeSearch(resp)
	if err != nil {
		return fhirdoc.Bundle{}, err
	}
	seen := map[string]bool{}
	for page := all; page.Next() != ""; {
		next, err := c.nextPage(page.Next())
		if err == nil && seen[next] {
			err = errors.New("the EHR's next link repeats a page")
		}
		if err == nil && len(seen)+1 >= maxPages {
			err = fmt.Errorf("more than %d pages", maxPages)
		}
		if err != nil {
			return fhirdoc.Bundle{}, &connectors.PushError{Message: "incomplete search result: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrSearchTruncated, err)}
		}
		seen[next] = true
		resp, err := c.send(ctx, http.MethodGet, next, nil, nil)
		if err != nil {
			return fhirdoc.Bundle{}, err
		}
		if page, err = decodeSearch(resp); err != nil {
			return fhirdoc.Bundle{}, err
		}
		all.Entry = append(all.Entry, page.Entry...)
	}
	all.Link = nil
	return all, nil
}

func decodeSearch(resp *Response) (fhirdoc.Bundle, error) {
	b, err := fhirdoc.DecodeBundle(resp.Body)
	if err != nil {
		return fhirdoc.Bundle{}, &connectors.PushError{StatusCode: resp.StatusCode, Message: "unreadable search result", Err: err}
	}
	return b, nil
}

// nextPage resolves a next link against Base and refuses one that leaves
// the server: the client's credentials go with it.
func (c *Client) nextPage(link string) (string, error) {
	base, err := url.Parse(strings.TrimSuffix(c.Base, "/") + "/")
	if err != nil {
		return "", err
	}
	u, err := base.Parse(link)
	if err != nil {
		return "", fmt.Errorf("unreadable next link: %w", err)
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return "", fmt.Errorf("next link %s://%s is off the server's base", u.Scheme, u.Host)
	}
	return u.String(), nil
}

// SearchIdentifier returns the resources of a type carrying system|value.
// Matches are re-checked locally, as some servers ignore the system.
func (c *Client) SearchIdentifier(ctx context.Context, resourceType, system, value string) ([]fhirdoc.Resource, error) {
	b, err := c.Search(ctx, resourceType, url.Values{"identifier": {system + "|" + value}})
	if err != nil {
		return nil, err
	}
	var out []fhirdoc.Resource
	for _, r := range b.Matches() {
		if r.ResourceType == resourceType && r.HasIdentifier(system, value) {
			out = append(out, r)
		}
	}
	return out, nil
}

// IDFromLocation extracts the logical id from a Location header
// ("https://x/fhir/DocumentReference/123/_history/1" → "123").
func IDFromLocation(resourceType, location string) string {
	if location == "" {
		return ""
	}
	ref := fhirdoc.RelativeReference(resourceType, location)
	id := strings.TrimPrefix(ref, resourceType+"/")
	if strings.ContainsAny(id, "?#") {
		return ""
	}
	return id
}

// CanCreate reports whether a CapabilityStatement lists the create
// interaction on resourceType, so `scribegate connectors check` can tell an
// operator before the first push that the EHR will refuse it.
func CanCreate(capabilityStatement []byte, resourceType string) (bool, error) {
	var cs struct {
		Rest []struct {
			Resource []struct {
				Type        string `json:"type"`
				Interaction []struct {
					Code string `json:"code"`
				} `json:"interaction"`
			} `json:"resource"`
		} `json:"rest"`
	}
	if err := json.Unmarshal(capabilityStatement, &cs); err != nil {
		return false, fmt.Errorf("CapabilityStatement unreadable: %w", err)
	}
	for _, r := range cs.Rest {
		for _, res := range r.Resource {
			if res.Type != resourceType {
				continue
			}
			for _, in := range res.Interaction {
				if in.Code == "create" {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

// CreateCheck is the connectors.CheckResult "capabilities: <type> create"
// for a CapabilityStatement already read.
func CreateCheck(capabilityStatement []byte, resourceType string) connectors.CheckResult {
	res := connectors.CheckResult{Name: "capabilities: " + resourceType + " create"}
	ok, err := CanCreate(capabilityStatement, resourceType)
	switch {
	case err != nil:
		res.Detail = err.Error()
	case !ok:
		res.Detail = "the CapabilityStatement does not list " + resourceType + " create"
	default:
		res.OK = true
	}
	return res
}

// CheckCreate reads the server's CapabilityStatement and reports whether it
// lists create on resourceType; it files nothing.
func (c *Client) CheckCreate(ctx context.Context, resourceType string) connectors.CheckResult {
	resp, err := c.Do(ctx, http.MethodGet, "metadata", nil, nil, nil)
	if err != nil {
		return connectors.CheckResult{Name: "capabilities: " + resourceType + " create", Detail: err.Error()}
	}
	return CreateCheck(resp.Body, resourceType)
}

// EnsureProvenance files the Provenance body for the document docRef
// ("DocumentReference/123") unless the server already holds one targeting
// it. Provenance has no identifier to create conditionally on, so after a
// lost reply this search is what keeps a retry from filing a second one;
// fresh says the document was created by this very attempt, so no
// Provenance can exist and the search is skipped. created reports whether
// it sent one.
func (c *Client) EnsureProvenance(ctx context.Context, docRef string, body []byte, fresh bool) (created bool, err error) {
	if fresh {
		_, err := c.Create(ctx, "Provenance", body, "")
		return err == nil, err
	}
	b, err := c.Search(ctx, "Provenance", url.Values{"target": {docRef}})
	if err != nil {
		return false, connectors.NotJudged(err, "cannot check the EHR for an earlier Provenance")
	}
	for _, r := range b.Matches() {
		if r.ResourceType == "Provenance" {
			return false, nil
		}
	}
	if _, err := c.Create(ctx, "Provenance", body, ""); err != nil {
		return false, err
	}
	return true, nil
}

// ProvenancePending is the failure of a push whose document the EHR holds
// (as ref) while its Provenance could not be filed yet: transient, so the
// note stays queued, and worded to say exactly that — the clinician's
// note is in the chart, the AI declaration is not yet.
func ProvenancePending(ref string, err error) error {
	var pe *connectors.PushError
	msg := err.Error()
	out := &connectors.PushError{Err: err, Filed: ref}
	if errors.As(err, &pe) {
		msg = pe.Message
		out.StatusCode, out.RetryAfter = pe.StatusCode, pe.RetryAfter
	}
	out.Message = "document filed (" + ref + "), provenance pending: " + msg
	return out
}

// FileDocument files body, the DocumentReference p builds for d, once,
// judged by what the server holds: it searches for the note identifier
// first, so a document already filed is never sent again whatever the
// attempt count, and otherwise creates body conditionally (If-None-Exist),
// for a server that honours it to catch a concurrent retry. Created.Existing
// says the document was there already. A failed search is transient
// whatever the server answered (connectors.NotJudged): the document itself
// was not judged.
func (c *Client) FileDocument(ctx context.Context, d *connectors.Document, p fhirdoc.Profile, body []byte) (Created, error) {
	id := p.NoteIdentifier(d)
	found, err := c.SearchIdentifier(ctx, fhirdoc.DocumentReferenceType, *id.System, *id.Value)
	if err != nil {
		return Created{}, connectors.NotJudged(err, "cannot check for an earlier push")
	}
	if len(found) > 0 {
		return Created{ID: found[0].ID, Existing: true}, nil
	}
	return c.Create(ctx, fhirdoc.DocumentReferenceType, body, p.IfNoneExist(d))
}

// FileProvenance builds d's AI-transparency Provenance for the filed
// document docID and files it unless the server already holds one (see
// EnsureProvenance). A build failure or refusal is permanent; any other
// failure comes back as ProvenancePending, so the note stays queued and
// says its document is filed.
func (c *Client) FileProvenance(ctx context.Context, d *connectors.Document, docID string, p fhirdoc.Profile, fresh bool) error {
	prov, err := fhirdoc.BuildProvenance(d, fhirdoc.DocumentTarget(docID, d, p), p)
	if err != nil {
		return connectors.Permanent(err)
	}
	body, err := fhirdoc.Marshal(prov)
	if err != nil {
		return &connectors.PushError{Permanent: true, Message: "cannot encode the provenance", Err: err}
	}
	ref := fhirdoc.RelativeReference(fhirdoc.DocumentReferenceType, docID)
	if _, err := c.EnsureProvenance(ctx, ref, body, fresh); err != nil {
		if connectors.IsPermanent(err) {
			return err
		}
		return ProvenancePending(ref, err)
	}
	return nil
}
