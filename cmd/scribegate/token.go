package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scribegate/scribegate/gateway/auth"
	"github.com/scribegate/scribegate/review"
)

// runToken mints a development token signed with the gateway's shared
// secret. It refuses when the gateway verifies tokens against a JWKS: there,
// tokens come from the clinic's identity provider.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sub := fs.String("sub", "", "user id (JWT sub), e.g. the clinician's practitioner id")
	name := fs.String("name", "", "display name, used as the EHR author")
	clinic := fs.String("clinic", "", "clinic id the user acts for")
	role := fs.String("role", string(review.RoleClinician), "clinician, reviewer or admin")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime")
	cfg, err := parseConfigured(fs, args)
	if err != nil {
		return err
	}
	if cfg.Auth.JWKSURL != "" {
		return errors.New("token: the gateway verifies tokens with a JWKS; get tokens from the identity provider")
	}
	secret, err := devSecret(cfg.Auth.DevSecretFile)
	if err != nil {
		return err
	}
	tok, err := auth.MintToken(secret, auth.Claims{
		Clinic: *clinic, Role: review.Role(*role), Name: *name,
		RegisteredClaims: registered(*sub, cfg.Auth.Issuer, cfg.Auth.Audience),
	}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// devSecret reads the development signing secret, creating the file with a
// random secret the first time so that `make run` needs no set-up and no
// secret is ever shipped in the repository.
func devSecret(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(raw))
		if len(s) < 32 {
			return nil, fmt.Errorf("auth: development secret in %s is shorter than 32 characters", path)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("auth: %w", err)
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(buf)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race
		return devSecret(path)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	return []byte(s), f.Close()
}

// registered fills the standard claims a gateway configured with an issuer
// and audience checks.
func registered(sub, iss, aud string) jwt.RegisteredClaims {
	rc := jwt.RegisteredClaims{Subject: sub, Issuer: iss}
	if aud != "" {
		rc.Audience = jwt.ClaimStrings{aud}
	}
	return rc
}
