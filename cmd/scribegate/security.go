package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scribegate/scribegate/review/sealed"
)

// checkSecurity refuses configurations that would run open: a gateway on
// a network address verifying tokens with the development secret, a JWKS
// without the issuer and audience that tell this application's tokens
// from another's, and tokens or PHI sent to other hosts over plain HTTP.
func (c Config) checkSecurity() []error {
	var errs []error
	if c.Auth.JWKSURL == "" && c.SSO.OIDC.Issuer == "" && !c.Auth.InsecureDevMode && !loopbackAddr(c.Listen) {
		errs = append(errs, fmt.Errorf("listen %q is not a loopback address: set auth.jwks_url (production), or auth.insecure_dev_mode: true for a development gateway on a network", c.Listen))
	}
	if c.Auth.JWKSURL != "" && (c.Auth.Issuer == "" || c.Auth.Audience == "") {
		errs = append(errs, errors.New("auth.issuer and auth.audience are required with auth.jwks_url: without them a token the identity provider issued for another application is accepted"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together"))
	}
	if c.TLS.AllowHTTPURLs {
		return errs
	}
	urls := map[string]string{"auth.jwks_url": c.Auth.JWKSURL, "sso.oidc.issuer": c.SSO.OIDC.Issuer}
	if c.Transcription.Engine == "openai" {
		urls["transcription.openai.base_url"] = c.Transcription.OpenAI.BaseURL
	}
	if c.Drafting.Drafter == "openai" {
		urls["drafting.openai.base_url"] = c.Drafting.OpenAI.BaseURL
	}
	for name, n := range c.Connectors.Instances {
		for k, v := range instanceScalars(n) {
			if strings.HasSuffix(k, "url") {
				urls["connectors.instances."+name+"."+k] = v
			}
		}
	}
	for key, raw := range urls {
		u, err := url.Parse(raw)
		if err == nil && strings.EqualFold(u.Scheme, "http") && !loopbackHost(u.Hostname()) {
			errs = append(errs, fmt.Errorf("%s: http:// to a host other than loopback would send tokens and PHI in the clear; use https (or tls.allow_http_urls: true, for development)", key))
		}
	}
	return errs
}

// warnInsecure logs, loudly, the settings that keep a gateway running but
// weaken it.
func (c Config) warnInsecure(log *slog.Logger) {
	if c.Auth.JWKSURL == "" && c.SSO.OIDC.Issuer == "" && !loopbackAddr(c.Listen) {
		log.Warn("DEVELOPMENT MODE ON A NETWORK ADDRESS: tokens are verified with the shared development secret (auth.insecure_dev_mode); anyone holding it can act as any clinician of any clinic", "listen", c.Listen)
	}
	if c.TLS.AllowHTTPURLs {
		log.Warn("tls.allow_http_urls is set: tokens and PHI may cross the network unencrypted")
	}
	if c.TLS.CertFile == "" && !loopbackAddr(c.Listen) {
		log.Warn("serving plain HTTP on a network address: terminate TLS in front of the gateway or set tls.cert_file and tls.key_file", "listen", c.Listen)
	}
	for name, n := range c.Connectors.Instances {
		if instanceScalars(n)["token"] != "" {
			log.Warn("a connector's bearer token sits inline in the configuration file; use token_file or token_env", "connector", name)
		}
	}
}

// instanceScalars are a connector instance's scalar settings.
func instanceScalars(n yaml.Node) map[string]string {
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := n.Content[i+1]; v.Kind == yaml.ScalarNode {
			out[n.Content[i].Value] = v.Value
		}
	}
	return out
}

// loopbackAddr: listen binds only loopback (not "" or 0.0.0.0, which
// bind every interface).
func loopbackAddr(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	return err == nil && loopbackHost(host)
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// certReloader serves the certificate in certFile/keyFile, read again on
// the first handshake after either file's modification time changes. A
// pair that fails to load (half-written, mismatched) leaves the previous
// one serving until the files change again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := r.getCertificate(nil); err != nil {
		return nil, err
	}
	return r, nil
}

// getCertificate is the tls.Config's GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	ci, cerr := os.Stat(r.certFile)
	ki, kerr := os.Stat(r.keyFile)
	r.mu.Lock()
	defer r.mu.Unlock()
	if cerr == nil && kerr == nil && (r.cert == nil || !ci.ModTime().Equal(r.certMod) || !ki.ModTime().Equal(r.keyMod)) {
		r.certMod, r.keyMod = ci.ModTime(), ki.ModTime()
		c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
		switch {
		case err == nil:
			r.cert = &c
			r.log.Info("tls certificate loaded", "cert_file", r.certFile)
		case r.cert == nil:
			return nil, fmt.Errorf("tls: %w", err)
		default:
			r.log.Error("tls certificate not reloaded; serving the previous one", "cert_file", r.certFile, "err", err)
		}
	}
	if r.cert == nil {
		return nil, fmt.Errorf("tls: %w", errors.Join(cerr, kerr))
	}
	return r.cert, nil
}

// tlsListener wraps l in TLS with the configured certificate, or returns
// l when none is configured. HTTP/1.1 only: WebSocket sessions need it.
func tlsListener(l net.Listener, c TLSConfig, log *slog.Logger) (net.Listener, error) {
	if c.CertFile == "" {
		return l, nil
	}
	r, err := newCertReloader(c.CertFile, c.KeyFile, log)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(l, &tls.Config{
		GetCertificate: r.getCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
	}), nil
}

// loadKeys reads the key ring the store seals with; nil when none is
// configured. A configured source that is missing, empty or malformed is
// an error: the gateway does not start rather than store in the clear, or
// fail to read what it sealed.
func loadKeys(c EncryptionConfig, log *slog.Logger) (*sealed.Ring, error) {
	var src string
	switch {
	case c.KeysFile != "" && c.KeysEnv != "":
		return nil, errors.New("encryption: set keys_file or keys_env, not both")
	case c.KeysFile != "":
		fi, err := os.Stat(c.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("encryption: %w", err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			log.Warn("the encryption key file is readable by others than its owner; chmod 600 it", "file", c.KeysFile)
		}
		b, err := os.ReadFile(c.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("encryption: %w", err)
		}
		src = string(b)
	case c.KeysEnv != "":
		if src = os.Getenv(c.KeysEnv); src == "" {
			return nil, fmt.Errorf("encryption: environment variable %s is empty", c.KeysEnv)
		}
	default:
		log.Warn("no encryption keys configured (encryption.keys_file or keys_env): notes and transcripts are stored unencrypted")
		return nil, nil
	}
	r, err := sealed.ParseKeys(src)
	if err != nil {
		return nil, fmt.Errorf("encryption: %w", err)
	}
	return r, nil
}
