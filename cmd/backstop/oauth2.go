package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"backstop/mailbox"
)

// refreshEarly is how long before its expiry a token is replaced: a login
// never starts with a token about to expire.
const refreshEarly = 5 * time.Minute

// tokenSource gives access tokens for one server section (RFC 6749 section
// 4.4 client credentials, or section 6 refresh token), one fetch at a
// time. It implements mailbox.TokenSource.
type tokenSource struct {
	key  string // imap.oauth2 or smtp.oauth2, for errors
	cfg  *OAuth2Config
	http *http.Client // nil: http.DefaultClient
	now  func() time.Time

	mu  sync.Mutex
	tok *oauth2.Token
}

func newTokenSource(key string, cfg *OAuth2Config, client *http.Client) *tokenSource {
	return &tokenSource{key: key, cfg: cfg, http: client, now: time.Now}
}

// permanentGrantErrors are the token endpoint's error codes (RFC 6749
// section 5.2, OpenID Connect Core 3.1.2.6) that a person must act on.
var permanentGrantErrors = map[string]string{
	"invalid_grant":        "the refresh token was revoked or has expired: repeat the consent step and put the new refresh token in %[1]s.refresh_token_file",
	"invalid_client":       "the client was not accepted: check %[1]s.client_id and the client secret (%[1]s.client_secret_env or _file; secrets expire)",
	"unauthorized_client":  "the app may not use this flow: check %[1]s.flow and the app registration",
	"invalid_scope":        "a scope was refused: check %[1]s.scopes",
	"consent_required":     "an administrator must grant consent to the app's permissions",
	"interaction_required": "a person must sign in again: repeat the consent step and update %[1]s.refresh_token_file",
}

// Token implements mailbox.TokenSource.
func (s *tokenSource) Token(ctx context.Context, refresh bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !refresh && s.tok != nil && s.tok.AccessToken != "" &&
		(s.tok.Expiry.IsZero() || s.tok.Expiry.Sub(s.now()) > refreshEarly) {
		return s.tok.AccessToken, nil
	}
	if s.http != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, s.http)
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return "", s.classify(err)
	}
	s.tok = tok
	return tok.AccessToken, nil
}

func (s *tokenSource) fetch(ctx context.Context) (*oauth2.Token, error) {
	c := s.cfg
	if c.Flow == "client_credentials" {
		cc := clientcredentials.Config{ClientID: c.ClientID, ClientSecret: c.secret, TokenURL: c.TokenURL, Scopes: c.Scopes}
		if c.cert != nil {
			// A fresh assertion per request: each is valid for minutes.
			params, err := c.cert.assertionParams(c.ClientID, c.TokenURL)
			if err != nil {
				return nil, &mailbox.PermanentError{Err: fmt.Errorf("%s.client_certificate_file: %w", s.key, err)}
			}
			cc.EndpointParams = params
			cc.AuthStyle = oauth2.AuthStyleInParams
		}
		return cc.Token(ctx)
	}
	current, err := os.ReadFile(c.RefreshTokenFile)
	if err != nil {
		return nil, &mailbox.PermanentError{Err: fmt.Errorf("%s.refresh_token_file: %w", s.key, err)}
	}
	rt := strings.TrimSpace(string(current))
	conf := &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.secret, Endpoint: oauth2.Endpoint{TokenURL: c.TokenURL}, Scopes: c.Scopes}
	tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken != "" && tok.RefreshToken != rt {
		if err := writeSecretFile(c.RefreshTokenFile, tok.RefreshToken); err != nil {
			// The old refresh token may already be invalid: say so loudly.
			return nil, &mailbox.PermanentError{Err: fmt.Errorf("%s: the provider rotated the refresh token but it could not be saved to %s (make its directory writable by backstop): %w",
				s.key, c.RefreshTokenFile, err)}
		}
	}
	return tok, nil
}

// classify turns a token endpoint's refusal that a person must act on into
// a *mailbox.PermanentError naming the keys; network failures and 5xx stay
// temporary.
func (s *tokenSource) classify(err error) error {
	if mailbox.IsPermanent(err) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if advice, ok := permanentGrantErrors[re.ErrorCode]; ok {
			return &mailbox.PermanentError{Err: fmt.Errorf("%s: token endpoint %s refused: %s: %w", s.key, s.cfg.TokenURL, fmt.Sprintf(advice, s.key), err)}
		}
		if re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return &mailbox.PermanentError{Err: fmt.Errorf("%s: token endpoint %s refused (HTTP %d): check %s.token_url, client_id and the secret: %w",
				s.key, s.cfg.TokenURL, re.Response.StatusCode, s.key, err)}
		}
	}
	return fmt.Errorf("%s: token endpoint %s: %w", s.key, s.cfg.TokenURL, err)
}

// writeSecretFile replaces path's content atomically, mode 0600.
func writeSecretFile(path, value string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(value + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
