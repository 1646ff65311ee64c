package mailtest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// OAuth2Server is an OAuth2 authorization server on loopback, for one
// test: a token endpoint (RFC 6749 section 4.4 client credentials and
// section 6 refresh token, rotating the refresh token each time) and a
// token introspection endpoint (RFC 7662) that Dovecot's oauth2 passdb
// asks about each token. Tokens are issued for Username.
type OAuth2Server struct {
	// TokenURL and IntrospectURL are the endpoints' URLs.
	TokenURL, IntrospectURL string
	// ClientID and ClientSecret are the only client accepted.
	ClientID, ClientSecret string
	// Username is the user every token is issued for.
	Username string
	// ExpiresIn is the lifetime announced with each access token
	// (default one hour).
	ExpiresIn time.Duration
	// ClientCert, when set, is a certificate credential: a client may
	// authenticate with a JWT assertion (RFC 7523) signed by its RSA key
	// instead of the secret, as Microsoft Entra allows.
	ClientCert *x509.Certificate

	mu       sync.Mutex
	access   map[string]bool // issued access tokens: active or not
	refresh  string          // the current refresh token
	issued   int
	requests int
}

// NewOAuth2Server starts an OAuth2 server for username; it stops when the
// test ends.
func NewOAuth2Server(t testing.TB, username string) *OAuth2Server {
	t.Helper()
	o := &OAuth2Server{
		ClientID: "backstop-test", ClientSecret: randomToken(), Username: username,
		ExpiresIn: time.Hour, access: map[string]bool{}, refresh: randomToken(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", o.token)
	mux.HandleFunc("POST /introspect", o.introspect)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	o.TokenURL = srv.URL + "/token"
	o.IntrospectURL = srv.URL + "/introspect"
	return o
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RefreshToken returns the current refresh token: the only one accepted.
func (o *OAuth2Server) RefreshToken() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refresh
}

// RevokeAll makes every access token issued so far inactive, as when
// they expire early or are revoked.
func (o *OAuth2Server) RevokeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for tok := range o.access {
		o.access[tok] = false
	}
}

// RevokeRefresh makes the refresh token invalid: the next refresh gets
// invalid_grant, as after a user revoked the app's consent.
func (o *OAuth2Server) RevokeRefresh() {
	o.mu.Lock()
	o.refresh = "revoked-" + randomToken()
	o.mu.Unlock()
}

// Issued returns how many access tokens the token endpoint issued.
func (o *OAuth2Server) Issued() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.issued
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// token is the token endpoint. x/oauth2 sends the client's credentials
// with HTTP Basic, and in the form after a 401: both are accepted.
func (o *OAuth2Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if r.PostForm.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		if o.checkAssertion(r.PostForm.Get("client_assertion"), "http://"+r.Host+r.URL.Path) == nil {
			secret = o.ClientSecret
		} else {
			secret = ""
		}
	}
	if id != o.ClientID || secret != o.ClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests++
	resp := map[string]any{"token_type": "Bearer", "expires_in": int(o.ExpiresIn / time.Second), "scope": "mail"}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
	case "refresh_token":
		if r.PostForm.Get("refresh_token") != o.refresh {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "refresh token revoked"})
			return
		}
		o.refresh = randomToken() // rotated
		resp["refresh_token"] = o.refresh
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	tok := randomToken()
	o.access[tok] = true
	o.issued++
	resp["access_token"] = tok
	writeJSON(w, http.StatusOK, resp)
}

// introspect answers RFC 7662 requests. An unknown or inactive token gets
// 200 {"active":false}: Dovecot turns that into AUTHENTICATIONFAILED (a
// 401 would be a temporary failure for it).
func (o *OAuth2Server) introspect(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	tok := r.PostForm.Get("token")
	o.mu.Lock()
	active := o.access[tok]
	o.mu.Unlock()
	if !active {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"active": true, "username": o.Username, "email": o.Username, "scope": "mail",
		"exp": time.Now().Add(o.ExpiresIn).Unix(),
	})
}

// WithOAuth2 configures Dovecot's oauth2 passdb (XOAUTH2 and OAUTHBEARER)
// against the introspection endpoint of o, next to the password login.
// Logins from 127.0.0.1 get no auth penalty, so that a refused token does
// not slow the next login down.
func WithOAuth2(o *OAuth2Server) DovecotOption {
	return func(opts *dovecotOptions) {
		opts.oauth2 = o.IntrospectURL
	}
}

// checkAssertion verifies an RS256 JWT client assertion against
// ClientCert: signature, issuer, subject, audience and lifetime.
func (o *OAuth2Server) checkAssertion(jwt, audience string) error {
	if o.ClientCert == nil {
		return errors.New("no certificate credential registered")
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	pub, ok := o.ClientCert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("not an RSA certificate")
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		return err
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	var claims struct {
		Aud, Iss, Sub string
		Exp, Nbf      int64
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return err
	}
	now := time.Now().Unix()
	if claims.Iss != o.ClientID || claims.Sub != o.ClientID || claims.Aud != audience || now > claims.Exp || now+60 < claims.Nbf {
		return fmt.Errorf("assertion claims %+v not valid for %s at %s", claims, o.ClientID, audience)
	}
	return nil
}
