package main

// OAuth2 end to end: backstop logs in to a real Dovecot whose oauth2 passdb
// asks a token introspection endpoint (RFC 7662) about each token; the
// token and introspection endpoints are mailtest.OAuth2Server on loopback,
// driven by golang.org/x/oauth2 on backstop's side.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"backstop/mailbox"
	"backstop/mailbox/mailtest"
)

// oauthBackend is a Dovecot with the oauth2 passdb and its OAuth2 server.
func oauthBackend(o **mailtest.OAuth2Server) backend {
	return backend{"dovecot-oauth2", func(t testing.TB) (string, string, string, imapBackend) {
		*o = mailtest.NewOAuth2Server(t, mailtest.DefaultUsername)
		d := mailtest.StartDovecot(t, mailtest.WithOAuth2(*o))
		return d.Addr, d.Username, "", d
	}}
}

// withOAuth2 makes backstop log in to IMAP with tokens from o.
func withOAuth2(o **mailtest.OAuth2Server, flow, refreshFile string) harnessOption {
	return func(h *harness) {
		h.cfg.IMAP.Auth = "oauth2"
		h.cfg.IMAP.password = ""
		h.cfg.IMAP.OAuth2 = &OAuth2Config{
			Provider: "custom", Flow: flow, ClientID: (*o).ClientID, TokenURL: (*o).TokenURL,
			Scopes: []string{"mail"}, RefreshTokenFile: refreshFile, secret: (*o).ClientSecret,
		}
	}
}

func TestOAuth2Dovecot(t *testing.T) {
	t.Run("client_credentials", func(t *testing.T) {
		var o *mailtest.OAuth2Server
		h := newHarness(t, oauthBackend(&o), withProxy(), withOAuth2(&o, "client_credentials", ""))
		h.start()
		h.imap.Append("INBOX", forward(t, 1, "jordan@globex.example"))
		h.eventually("the forward to be processed with an OAuth2 login", func() bool {
			return len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))) == 1
		})
		if o.Issued() != 1 {
			t.Errorf("%d tokens issued, want 1", o.Issued())
		}

		// The token stops working before its announced expiry (revoked,
		// or expired early): the next login is refused, a new token is
		// fetched once, and the login goes through.
		o.RevokeAll()
		h.proxy.DropAll()
		h.imap.Append("INBOX", forward(t, 2, "casey@initech.example"))
		h.eventually("the second forward to be processed after the token was renewed", func() bool {
			return len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))) == 2
		})
		if o.Issued() != 2 {
			t.Errorf("%d tokens issued, want 2", o.Issued())
		}
		if strings.Contains(h.logs.String(), "level=ERROR") {
			t.Errorf("a renewed token logged an ERROR:\n%s", h.logs.String())
		}
	})

	t.Run("refresh_token", func(t *testing.T) {
		var o *mailtest.OAuth2Server
		rtFile := filepath.Join(t.TempDir(), "refresh-token")
		// The refresh token is only known once the server runs: the
		// option reads it then.
		h := newHarness(t, oauthBackend(&o), withProxy(), withOAuth2(&o, "refresh_token", rtFile))
		if err := os.WriteFile(rtFile, []byte(o.RefreshToken()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		first := o.RefreshToken()
		h.start()
		h.imap.Append("INBOX", forward(t, 1, "jordan@globex.example"))
		h.eventually("the forward to be processed", func() bool {
			return len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))) == 1
		})
		// The provider rotated the refresh token: the new one is saved, 0600.
		data, err := os.ReadFile(rtFile)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(data)); got != o.RefreshToken() || got == first {
			t.Errorf("refresh token file holds %q; want the rotated %q", got, o.RefreshToken())
		}
		if st, err := os.Stat(rtFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("refresh token file mode %v, %v; want 0600", st.Mode().Perm(), err)
		}

		// The user revokes the app's consent: the access token is refused,
		// the refresh gets invalid_grant, and backstop says at ERROR, once,
		// what to do; the health status shows a permanent failure.
		o.RevokeRefresh()
		o.RevokeAll()
		h.proxy.DropAll()
		h.eventually("the revoked consent to be reported", func() bool {
			st := h.d.watcher.Status()
			return !st.Watching && st.Permanent
		})
		st := h.d.watcher.Status()
		if !strings.Contains(st.Err.Error(), "imap.oauth2.refresh_token_file") || !strings.Contains(st.Err.Error(), "invalid_grant") {
			t.Errorf("error %v; want invalid_grant and the key imap.oauth2.refresh_token_file", st.Err)
		}
		if n := strings.Count(h.logs.String(), "level=ERROR"); n != 1 {
			t.Errorf("%d ERROR lines, want 1:\n%s", n, h.logs.String())
		}
		if strings.Contains(h.logs.String(), o.RefreshToken()) || strings.Contains(h.logs.String(), first) {
			t.Errorf("a refresh token in the log")
		}
	})

	// XOAUTH2, Microsoft's and Google's mechanism, where the server offers
	// no OAUTHBEARER (hidden by the proxy).
	t.Run("xoauth2", func(t *testing.T) {
		var o *mailtest.OAuth2Server
		h := newHarness(t, oauthBackend(&o), withProxy(), withOAuth2(&o, "client_credentials", ""))
		h.proxy.HideCaps("AUTH=OAUTHBEARER")
		h.start()
		h.imap.Append("INBOX", forward(t, 1, "jordan@globex.example"))
		h.eventually("the forward to be processed with XOAUTH2", func() bool {
			return len(h.imap.UIDs(h.imap.Mailbox("backstop/processed"))) == 1
		})
	})
}

// TestBearerClient: the SASL initial responses are the documented ones.
func TestBearerClient(t *testing.T) {
	for _, tc := range []struct {
		mech, want string
	}{
		{mailbox.MechXOAuth2, "user=a@b.example\x01auth=Bearer tok\x01\x01"},
		{mailbox.MechOAuthBearer, "n,a=a@b.example,\x01auth=Bearer tok\x01\x01"},
	} {
		c := &mailbox.BearerClient{Mech: tc.mech, Username: "a@b.example", Token: "tok"}
		mech, ir, err := c.Start()
		if err != nil || mech != tc.mech || string(ir) != tc.want {
			t.Errorf("%s: Start = %q, %q, %v; want %q", tc.mech, mech, ir, err, tc.want)
		}
		resp, _ := c.Next([]byte(`{"status":"401","schemes":"bearer"}`))
		if c.Failure == nil || c.Failure.Status != "401" {
			t.Errorf("%s: failure challenge not kept: %+v", tc.mech, c.Failure)
		}
		if tc.mech == mailbox.MechOAuthBearer && string(resp) != "\x01" || tc.mech == mailbox.MechXOAuth2 && len(resp) != 0 {
			t.Errorf("%s: answer to the failure challenge %q", tc.mech, resp)
		}
	}
}

// TestTokenSource: a token is reused until five minutes before it
// expires, then replaced; a refresh after a refusal always fetches; a
// refusal a person must fix is permanent and names the key.
func TestTokenSource(t *testing.T) {
	ctx := t.Context()
	o := mailtest.NewOAuth2Server(t, "escalations@acme.example")
	cfg := &OAuth2Config{Flow: "client_credentials", ClientID: o.ClientID, TokenURL: o.TokenURL, secret: o.ClientSecret}
	src := newTokenSource("imap.oauth2", cfg, nil)

	first, err := src.Token(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := src.Token(ctx, false); again != first || o.Issued() != 1 {
		t.Errorf("a valid token was not reused (%d issued)", o.Issued())
	}
	if renewed, _ := src.Token(ctx, true); renewed == first || o.Issued() != 2 {
		t.Errorf("refresh did not fetch a new token (%d issued)", o.Issued())
	}
	// Close to its expiry, a token is replaced before a login uses it.
	src.now = func() time.Time { return time.Now().Add(time.Hour - 4*time.Minute) }
	if _, err := src.Token(ctx, false); err != nil || o.Issued() != 3 {
		t.Errorf("a token 4 minutes from expiry was not replaced (%d issued, %v)", o.Issued(), err)
	}

	bad := *cfg
	bad.secret = "wrong"
	_, err = newTokenSource("imap.oauth2", &bad, nil).Token(ctx, false)
	if !mailbox.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_client") || !strings.Contains(err.Error(), "imap.oauth2.client_id") {
		t.Errorf("wrong secret: %v; want a permanent invalid_client naming imap.oauth2.client_id", err)
	}

	down := *cfg
	down.TokenURL = "http://127.0.0.1:1/token"
	_, err = newTokenSource("imap.oauth2", &down, nil).Token(ctx, false)
	if err == nil || mailbox.IsPermanent(err) {
		t.Errorf("token endpoint down: %v; want a temporary error", err)
	}
}

// TestTokenSourceCertificate: client credentials with a certificate
// instead of a secret (Microsoft Entra's certificate credential): the
// token endpoint checks the RS256 assertion against the registered
// certificate; a certificate it does not know is a permanent failure.
func TestTokenSourceCertificate(t *testing.T) {
	o := mailtest.NewOAuth2Server(t, "escalations@acme.example")
	dir := t.TempDir()
	registered := writeTestClientCert(t, filepath.Join(dir, "app.pem"))
	writeTestClientCert(t, filepath.Join(dir, "other.pem"))
	o.ClientCert = registered

	for _, tc := range []struct {
		file      string
		permanent bool
	}{{"app.pem", false}, {"other.pem", true}} {
		cfgText := strings.Replace(validConfig, "  password_env: IMAP_PW\n", fmt.Sprintf(
			"  auth: oauth2\n  oauth2:\n    flow: client_credentials\n    token_url: %s\n    client_id: %s\n    client_certificate_file: %s\n",
			o.TokenURL, o.ClientID, filepath.Join(dir, tc.file)), 1)
		cfg, err := parseConfig("test.yaml", []byte(cfgText), testEnv)
		if err != nil {
			t.Fatal(err)
		}
		_, err = newTokenSource("imap.oauth2", cfg.IMAP.OAuth2, nil).Token(t.Context(), false)
		if tc.permanent {
			if !mailbox.IsPermanent(err) {
				t.Errorf("%s: %v; want a permanent refusal", tc.file, err)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
	}
}

// writeTestClientCert writes a self-signed RSA certificate and its key to
// path, PEM, and returns the certificate. Made up for the test.
func writeTestClientCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "backstop test app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}
