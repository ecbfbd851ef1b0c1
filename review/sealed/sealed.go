// Package sealed encrypts what the stores keep at rest (note bodies with
// their transcripts and drafts, transcript logs, audit entries) with an
// authenticated cipher, AES-256-GCM, under keys the operator holds
// outside the data directory, so that a copied data directory or backup
// reveals none of a consultation's words.
//
// Keys have ids. A sealed value names the id of the key that sealed it:
// new values are sealed with the newest key, and values sealed with an
// older key stay readable while that key is kept in the ring, so keys
// rotate by adding a new one first and dropping an old one once nothing
// needs it. A value sealed with a key the ring lacks, or that fails
// authentication (a wrong key, a changed byte), is an error: nothing
// falls back to reading it as plain text.
//
// A sealed value is text: "sealed1:" + key id + ":" + base64 (standard,
// unpadded) of a 12-byte random nonce and the ciphertext with its tag.
// JSON never starts so, which keeps values written before encryption was
// turned on readable.
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every sealed value.
const Prefix = "sealed1:"

var (
	// ErrUnknownKey: the value was sealed with a key the ring lacks (or
	// the ring is empty: encryption was turned off over sealed data).
	ErrUnknownKey = errors.New("sealed: value sealed with a key not in the key ring")
	// ErrAuth: the value does not authenticate under its key: a wrong key
	// under a right id, or a changed value.
	ErrAuth = errors.New("sealed: value does not authenticate (wrong key, or changed)")
	// ErrMalformed: the value starts like a sealed one but is not.
	ErrMalformed = errors.New("sealed: malformed sealed value")
)

var b64 = base64.RawStdEncoding

// Ring holds the keys. A nil *Ring seals nothing (values are stored as
// given) and opens only values that are not sealed.
type Ring struct {
	current string
	aeads   map[string]cipher.AEAD
}

// ParseKeys reads a key ring: entries "id:key" separated by newlines or
// commas, where key is 32 bytes in base64 (standard or URL alphabet,
// padded or not) and id is 1 to 32 letters, digits, '-', '_' or '.'. The
// first entry is the newest, used for new values. Blank lines and lines
// starting with '#' are skipped.
func ParseKeys(s string) (*Ring, error) {
	r := &Ring{aeads: map[string]cipher.AEAD{}}
	var entries []string
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			entries = append(entries, strings.Split(line, ",")...)
		}
	}
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		id, enc, ok := strings.Cut(entry, ":")
		if !ok || !validID(id) {
			return nil, errors.New(`sealed: a key entry must be "id:base64key" with an id of 1 to 32 letters, digits, '-', '_' or '.'`)
		}
		if _, dup := r.aeads[id]; dup {
			return nil, fmt.Errorf("sealed: key id %q appears twice", id)
		}
		key, err := decodeKey(enc)
		if err != nil {
			return nil, fmt.Errorf("sealed: key %q: %w", id, err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		r.aeads[id] = aead
		if r.current == "" {
			r.current = id
		}
	}
	if r.current == "" {
		return nil, errors.New("sealed: no key in the key ring")
	}
	return r, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("a key must be 32 bytes (AES-256), not %d", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("a key must be base64")
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Current is the id of the key new values are sealed with ("" for nil).
func (r *Ring) Current() string {
	if r == nil {
		return ""
	}
	return r.current
}

// Seal encrypts plain with the newest key. ad (associated data, such as
// the table a value belongs to) is authenticated but not stored: Open
// must be given the same, so a value moved elsewhere does not open. A nil
// ring returns plain unchanged.
func (r *Ring) Seal(plain []byte, ad string) string {
	if r == nil {
		return string(plain)
	}
	aead := r.aeads[r.current]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	randNonce(buf)
	buf = aead.Seal(buf, buf, plain, []byte(ad))
	return Prefix + r.current + ":" + b64.EncodeToString(buf)
}

// Open returns the plain text of a value Seal made with any key of the
// ring, or a value that was never sealed as it is.
func (r *Ring) Open(v string, ad string) ([]byte, error) {
	rest, ok := strings.CutPrefix(v, Prefix)
	if !ok {
		return []byte(v), nil
	}
	id, enc, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, ErrMalformed
	}
	if r == nil {
		return nil, ErrUnknownKey
	}
	aead, ok := r.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q)", ErrUnknownKey, id)
	}
	raw, err := b64.DecodeString(enc)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrMalformed
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("%w (key id %q)", ErrAuth, id)
	}
	return plain, nil
}

// IsSealed reports whether v is a sealed value.
func IsSealed(v string) bool { return strings.HasPrefix(v, Prefix) }

// randNonce fills a nonce with random bytes: with 96-bit random nonces a
// key seals 2^32 values before a repeat becomes a concern; rotate keys
// well before (a year of a thousand sessions' audio is about 2^31).
func randNonce(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("sealed: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
}
