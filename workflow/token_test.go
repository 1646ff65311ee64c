package workflow

import (
	"regexp"
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	tok := Token(testSecret, 7, "Jane@Acme.example")
	if !regexp.MustCompile(`^i7-[a-z2-7]{16}$`).MatchString(tok) {
		t.Fatalf("token %q has the wrong shape", tok)
	}
	if Token(testSecret, 7, " jane@acme.example ") != tok {
		t.Errorf("token depends on case or spaces of the recipient")
	}
	tests := []struct {
		name      string
		token     string
		recipient string
		secret    []byte
		wantID    int64
		wantOK    bool
	}{
		{"valid", tok, "jane@acme.example", testSecret, 7, true},
		{"upper-cased by a server", strings.ToUpper(tok), "JANE@acme.example", testSecret, 7, true},
		{"other recipient", tok, "omar@acme.example", testSecret, 0, false},
		{"other incident", "i8" + tok[2:], "jane@acme.example", testSecret, 0, false},
		{"other secret", tok, "jane@acme.example", []byte("another secret of thirty-two bytes"), 0, false},
		{"truncated", tok[:len(tok)-1], "jane@acme.example", testSecret, 0, false},
		{"garbage", "bounce-12", "jane@acme.example", testSecret, 0, false},
		{"leading zero", "i07" + tok[2:], "jane@acme.example", testSecret, 0, false},
		{"empty", "", "jane@acme.example", testSecret, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := VerifyToken(tt.secret, tt.token, tt.recipient)
			if id != tt.wantID || ok != tt.wantOK {
				t.Errorf("VerifyToken = %d, %v; want %d, %v", id, ok, tt.wantID, tt.wantOK)
			}
		})
	}
}

func TestTokenCarriers(t *testing.T) {
	tok := Token(testSecret, 3, "jane@acme.example")
	addr := tokenAddress("escalations@acme.example", tok)
	if addr != "escalations+"+tok+"@acme.example" {
		t.Fatalf("address %q", addr)
	}
	for _, a := range []string{addr, strings.ToUpper(addr)} {
		if got, ok := tokenFromAddress("escalations@acme.example", a); !ok || got != tok {
			t.Errorf("tokenFromAddress(%q) = %q, %v", a, got, ok)
		}
	}
	for _, a := range []string{"escalations@acme.example", "other+" + tok + "@acme.example", "escalations+" + tok + "@evil.example"} {
		if _, ok := tokenFromAddress("escalations@acme.example", a); ok {
			t.Errorf("tokenFromAddress(%q) found a token", a)
		}
	}
	id := newMessageID(tok, "acme.example")
	if id2 := newMessageID(tok, "acme.example"); id2 == id {
		t.Errorf("two Message-IDs alike: %s", id)
	}
	for _, form := range []string{id, "<" + id + ">", strings.ToUpper(id)} {
		if got, ok := tokenFromMessageID(form, "acme.example"); !ok || got != tok {
			t.Errorf("tokenFromMessageID(%q) = %q, %v", form, got, ok)
		}
	}
	for _, bad := range []string{"bs." + tok + ".x@evil.example", "xx." + tok + ".x@acme.example", "bs.nothing.x@acme.example", "m1@mail.example"} {
		if _, ok := tokenFromMessageID(bad, "acme.example"); ok {
			t.Errorf("tokenFromMessageID(%q) found a token", bad)
		}
	}
}
