package workflow

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
)

// Reply tokens tie an email backstop sent to its incident and recipient:
// "i7-" followed by 16 base32 characters of
// HMAC-SHA256(secret, "7\x00recipient") (the first 10 bytes). A reply
// carries the token in the address it was sent to (escalations+TOKEN@domain)
// and, for servers that strip +tags, in the Message-ID it answers
// (<bs.TOKEN.RANDOM@domain>).

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const tokenMACBytes = 10

// Token returns the reply token of incidentID for recipient.
func Token(secret []byte, incidentID int64, recipient string) string {
	return "i" + strconv.FormatInt(incidentID, 10) + "-" + b32.EncodeToString(tokenMAC(secret, incidentID, recipient))
}

func tokenMAC(secret []byte, incidentID int64, recipient string) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d\x00%s", incidentID, lower(recipient))
	return m.Sum(nil)[:tokenMACBytes]
}

// ParseToken returns the incident a token names, without verifying it.
func ParseToken(token string) (incidentID int64, ok bool) {
	token = lower(token)
	num, mac, found := strings.Cut(token, "-")
	if !found || len(num) < 2 || num[0] != 'i' || len(mac) != b32.EncodedLen(tokenMACBytes) {
		return 0, false
	}
	id, err := strconv.ParseInt(num[1:], 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != num[1:] {
		return 0, false
	}
	return id, true
}

// VerifyToken reports whether token was issued for recipient, and for which
// incident. The comparison takes constant time.
func VerifyToken(secret []byte, token, recipient string) (incidentID int64, ok bool) {
	token = lower(token)
	id, ok := ParseToken(token)
	if !ok {
		return 0, false
	}
	got, err := b32.DecodeString(token[strings.IndexByte(token, '-')+1:])
	if err != nil {
		return 0, false
	}
	if !hmac.Equal(got, tokenMAC(secret, id, recipient)) {
		return 0, false
	}
	return id, true
}

// tokenAddress returns local+token@domain for the escalations address.
func tokenAddress(escalations, token string) string {
	l, d, _ := splitAddress(escalations)
	return l + "+" + token + "@" + d
}

// tokenFromAddress returns the +tag of addr when addr is a subaddress of the
// escalations address.
func tokenFromAddress(escalations, addr string) (string, bool) {
	el, ed, _ := splitAddress(escalations)
	l, d, ok := splitAddress(addr)
	if !ok || d != ed {
		return "", false
	}
	base, tag, found := strings.Cut(l, "+")
	if !found || base != el || tag == "" {
		return "", false
	}
	return tag, true
}

// newMessageID returns a Message-ID (without angle brackets) carrying token:
// bs.TOKEN.RANDOM@domain.
func newMessageID(token, domain string) string {
	var r [8]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic("workflow: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	if token == "" {
		token = "n"
	}
	return "bs." + token + "." + b32.EncodeToString(r[:]) + "@" + domain
}

// tokenFromMessageID returns the token inside one of backstop's Message-IDs.
func tokenFromMessageID(id, domain string) (string, bool) {
	id = lower(strings.Trim(strings.TrimSpace(id), "<>"))
	local, d, ok := strings.Cut(id, "@")
	if !ok || d != lower(domain) {
		return "", false
	}
	rest, ok := strings.CutPrefix(local, "bs.")
	if !ok {
		return "", false
	}
	tok, _, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	if _, ok := ParseToken(tok); !ok {
		return "", false
	}
	return tok, true
}
