package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

const missingKeyMessage = `This model needs an API key: send "Authorization: Bearer <key>" or "X-Api-Key: <key>".`

// authenticate finds the key whose sha256 matches the presented secret. Every key is compared in constant time
// and the loop never stops early, so timing does not tell how many keys exist or which one came close.
func (t *table) authenticate(h http.Header, now time.Time) (key *apiKey, status int, kind, message string) {
	secret := presentedSecret(h)
	if secret == "" {
		return nil, http.StatusUnauthorized, "Unauthorized", missingKeyMessage
	}
	sum := sha256.Sum256([]byte(secret))
	for _, k := range t.keys {
		if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
			key = k
		}
	}
	if key == nil {
		return nil, http.StatusUnauthorized, "Unauthorized", "The API key is not valid (unknown or revoked)."
	}
	if !key.expires.IsZero() && !now.Before(key.expires) {
		return nil, http.StatusUnauthorized, "KeyExpired",
			"The API key " + key.id + " expired at " + key.expires.UTC().Format(time.RFC3339) + "; ask for a new key."
	}
	return key, 0, "", ""
}

// presentedSecret reads "Authorization: Bearer <secret>", else "X-Api-Key: <secret>".
func presentedSecret(h http.Header) string {
	if v := h["Authorization"]; len(v) > 0 {
		a := strings.TrimSpace(v[0])
		if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
			if s := strings.TrimSpace(a[7:]); s != "" {
				return s
			}
		}
	}
	if v := h["X-Api-Key"]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}
