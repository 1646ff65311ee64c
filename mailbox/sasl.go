package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
)

// TokenSource gives the OAuth2 access tokens that SASL XOAUTH2 and
// OAUTHBEARER send. An error that a person must fix (a refresh token
// revoked, a client secret wrong) is a *PermanentError.
type TokenSource interface {
	// Token returns a valid access token. With refresh set it gets a new
	// one even if the one it holds has not expired yet: the server refused
	// it.
	Token(ctx context.Context, refresh bool) (string, error)
}

// The SASL mechanisms for OAuth2.
const (
	// MechXOAuth2 is Google's and Microsoft's XOAUTH2.
	MechXOAuth2 = "XOAUTH2"
	// MechOAuthBearer is OAUTHBEARER (RFC 7628).
	MechOAuthBearer = "OAUTHBEARER"
)

// BearerClient is a SASL client for XOAUTH2 or OAUTHBEARER. go-sasl has
// no XOAUTH2 (it was removed), and its OAUTHBEARER client returns an
// error on the server's failure challenge without answering it, which
// leaves the command hanging: this one answers (RFC 7628 section 3.2.3:
// %x01; XOAUTH2: an empty response) so the server ends the exchange with
// its tagged failure, and keeps the challenge for the error message.
type BearerClient struct {
	Mech     string // MechXOAuth2 or MechOAuthBearer
	Username string
	Token    string

	// Failure is the server's error challenge, decoded, once it sent one.
	Failure *BearerFailure
}

// BearerFailure is the JSON a server sends when it refuses a token
// (RFC 7628 section 3.2.2; XOAUTH2 uses the same members).
type BearerFailure struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

var _ sasl.Client = (*BearerClient)(nil)

// Start returns the initial response: for XOAUTH2
// "user=U^Aauth=Bearer T^A^A", for OAUTHBEARER the GS2 header
// "n,a=U," and then "^Aauth=Bearer T^A^A" (RFC 7628 section 3.1).
func (c *BearerClient) Start() (mech string, ir []byte, err error) {
	if strings.ContainsAny(c.Username, "\x01,=") && c.Mech == MechOAuthBearer {
		return "", nil, fmt.Errorf("sasl: username %q holds a character OAUTHBEARER cannot carry", c.Username)
	}
	switch c.Mech {
	case MechXOAuth2:
		return MechXOAuth2, []byte("user=" + c.Username + "\x01auth=Bearer " + c.Token + "\x01\x01"), nil
	case MechOAuthBearer:
		return MechOAuthBearer, []byte("n,a=" + c.Username + ",\x01auth=Bearer " + c.Token + "\x01\x01"), nil
	}
	return "", nil, fmt.Errorf("sasl: unknown bearer mechanism %q", c.Mech)
}

// Next answers the server's failure challenge so that it can end the
// exchange.
func (c *BearerClient) Next(challenge []byte) ([]byte, error) {
	var f BearerFailure
	if json.Unmarshal(challenge, &f) == nil {
		c.Failure = &f
	} else {
		c.Failure = &BearerFailure{Status: string(challenge)}
	}
	if c.Mech == MechOAuthBearer {
		return []byte{0x01}, nil
	}
	return []byte{}, nil
}

// describe adds the server's failure detail to err.
func (c *BearerClient) describe(err error) error {
	if c.Failure == nil || c.Failure.Status == "" {
		return err
	}
	return fmt.Errorf("%w (token refused: status %s)", err, c.Failure.Status)
}

// chooseBearer picks the mechanism: OAUTHBEARER, the standard, where the
// server offers it, else XOAUTH2 (all that Microsoft offers).
func chooseBearer(has func(mech string) bool) (string, bool) {
	switch {
	case has(MechOAuthBearer):
		return MechOAuthBearer, true
	case has(MechXOAuth2):
		return MechXOAuth2, true
	}
	return "", false
}

// authenticate logs in with an OAuth2 token. When the server refuses it,
// a new token is fetched and tried once more on the same connection (it
// may have been revoked or expired early); a second refusal is permanent.
func (s *session) authenticate(ctx context.Context) error {
	mech, ok := chooseBearer(func(m string) bool { return s.c.Caps().Has(imap.Cap("AUTH=" + m)) })
	if !ok {
		return permanent(fmt.Errorf("imap: the server offers neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2 (set imap.auth: password, or check imap.host)"))
	}
	for attempt := 0; ; attempt++ {
		token, err := s.cfg.Auth.Token(ctx, attempt > 0)
		if err != nil {
			return fmt.Errorf("imap: oauth2 token: %w", err)
		}
		bc := &BearerClient{Mech: mech, Username: s.cfg.Username, Token: token}
		err = s.run("authenticate "+mech+" as "+s.cfg.Username, func() error { return s.c.Authenticate(bc) })
		if err == nil {
			return nil
		}
		err = bc.describe(err)
		if imapRefusal(err) == nil {
			return err
		}
		if attempt == 0 {
			s.log.Warn("imap: the server refused the OAuth2 token; getting a new one", "mech", mech, "err", err)
			continue
		}
		return permanent(fmt.Errorf("%w (a fresh token was refused too: check imap.username is the mailbox the token is for, and the app's permissions: imap.oauth2)", err))
	}
}

// errBearerRefused marks an SMTP server's refusal of a fresh token.
var errBearerRefused = errors.New("OAuth2 token refused")

// errNoBearer is an SMTP server that offers no OAuth2 mechanism.
var errNoBearer = errors.New("the server offers neither AUTH OAUTHBEARER nor AUTH XOAUTH2")
