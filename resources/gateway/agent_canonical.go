package main

// RFC 8785 (JSON Canonicalization Scheme): the form Berth hashes a state revision in (the `canonicalize` npm
// package), so the agent can verify a copy it got from a peer before adopting it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// revisionHash is the hash Berth stores beside a revision: sha256 hex over its canonical JSON.
func revisionHash(revision []byte) (string, error) {
	canonical, err := canonicalJSON(revision)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:]), nil
}

// canonicalJSON re-serializes one JSON value the way RFC 8785 (and JavaScript's JSON.stringify) writes it.
func canonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var value any
	if err := dec.Decode(&value); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return appendCanonical(nil, value)
}

func appendCanonical(dst []byte, value any) ([]byte, error) {
	switch v := value.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return appendCanonicalString(dst, v), nil
	case json.Number:
		return appendCanonicalNumber(dst, v)
	case []any:
		dst = append(dst, '[')
		for i, item := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendCanonical(dst, item); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		return appendCanonicalObject(dst, v)
	}
	return nil, errors.New("unexpected JSON value")
}

// appendCanonicalObject orders members by the UTF-16 code units of their names, as the RFC requires.
func appendCanonicalObject(dst []byte, object map[string]any) ([]byte, error) {
	names := make([]string, 0, len(object))
	units := make(map[string][]uint16, len(object))
	for name := range object {
		names = append(names, name)
		units[name] = utf16.Encode([]rune(name))
	}
	sort.Slice(names, func(i, j int) bool { return lessUTF16(units[names[i]], units[names[j]]) })
	dst = append(dst, '{')
	for i, name := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendCanonicalString(dst, name)
		dst = append(dst, ':')
		var err error
		if dst, err = appendCanonical(dst, object[name]); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

func lessUTF16(a, b []uint16) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// appendCanonicalString escapes like JSON.stringify: the two-character escapes, other controls as \u00xx, and
// everything else (non-ASCII, "<", "&") literally. A lone surrogate has already become U+FFFD in decoding;
// Berth never writes one.
func appendCanonicalString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendCanonicalNumber writes a number as JavaScript's Number.prototype.toString does (ES2015 7.1.12.1): the
// value is read as an IEEE double, as JSON.parse reads it, then printed with its shortest round-tripping digits.
func appendCanonicalNumber(dst []byte, number json.Number) ([]byte, error) {
	f, err := strconv.ParseFloat(string(number), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errors.New("number " + string(number) + " is not a finite double")
	}
	if f == 0 {
		return append(dst, '0'), nil // also -0
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// 'e' with precision -1 gives the shortest digits d.ddd and the exponent; n is the ES position of the point.
	mantissa, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	digits := strings.Replace(mantissa, ".", "", 1)
	e, _ := strconv.Atoi(exp)
	k, n := len(digits), e+1
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		return append(dst, strings.Repeat("0", n-k)...), nil
	case 0 < n && n <= 21:
		return append(append(append(dst, digits[:n]...), '.'), digits[n:]...), nil
	case -6 < n && n <= 0:
		dst = append(dst, "0."...)
		dst = append(dst, strings.Repeat("0", -n)...)
		return append(dst, digits...), nil
	}
	dst = append(dst, digits[0])
	if k > 1 {
		dst = append(append(dst, '.'), digits[1:]...)
	}
	dst = append(dst, 'e')
	if n-1 >= 0 {
		dst = append(dst, '+')
	}
	return strconv.AppendInt(dst, int64(n-1), 10), nil
}
