package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// ServerAuth is how backstop logs in to a mail server and whom it trusts:
// the keys shared by the imap and smtp sections.
type ServerAuth struct {
	// Auth is password (default) or oauth2. Microsoft 365 accepts only
	// oauth2 for IMAP; Google Workspace steers to it.
	Auth string `yaml:"auth"`
	// OAuth2 says where tokens come from when auth is oauth2.
	OAuth2 *OAuth2Config `yaml:"oauth2"`
	// CAFile is a PEM file of the certificate authorities to trust for
	// this server instead of the system's (a private CA).
	CAFile string `yaml:"ca_file"`
	// TLSServerName is the name the server's certificate must carry, when
	// it is not the host connected to (default: host).
	TLSServerName string `yaml:"tls_server_name"`
}

// OAuth2Config is where OAuth2 access tokens come from (RFC 6749).
type OAuth2Config struct {
	// Provider is microsoft, google or custom: microsoft and google fill in
	// token_url and scopes.
	Provider string `yaml:"provider"`
	// Flow is client_credentials (an app's own identity: Microsoft 365
	// app-only access) or refresh_token (a user's consent given once:
	// Google Workspace, or delegated Microsoft 365).
	Flow string `yaml:"flow"`
	// TenantID is the Microsoft Entra tenant (directory) id, for provider
	// microsoft.
	TenantID string `yaml:"tenant_id"`
	// ClientID is the app registration's client (application) id.
	ClientID string `yaml:"client_id"`
	// ClientSecretEnv names an environment variable holding the client secret.
	ClientSecretEnv string `yaml:"client_secret_env"`
	// ClientSecretFile names a file holding the client secret.
	ClientSecretFile string `yaml:"client_secret_file"`
	// ClientCertificateFile names a PEM file holding a certificate and its
	// RSA private key, instead of a client secret (Microsoft Entra's
	// certificate credential: upload the certificate to the app
	// registration; backstop signs a JWT assertion with the key, RFC 7523).
	ClientCertificateFile string `yaml:"client_certificate_file"`
	// RefreshTokenFile holds the refresh token (flow refresh_token). When the
	// provider rotates it, the new one is written back to this file, mode
	// 0600: the directory must be writable by backstop.
	RefreshTokenFile string `yaml:"refresh_token_file"`
	// TokenURL is the token endpoint (default from provider).
	TokenURL string `yaml:"token_url"`
	// Scopes requested (default from provider and flow).
	Scopes []string `yaml:"scopes"`

	secret string
	cert   *clientCert
}

// providerDefaults are the token endpoints and scopes from the providers'
// documentation, by provider and flow. {tenant} is replaced.
var providerDefaults = map[string]map[string]struct {
	tokenURL string
	scopes   []string
}{
	"microsoft": {
		// App-only: "Authenticate an IMAP, POP or SMTP connection using OAuth".
		"client_credentials": {"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", []string{"https://outlook.office365.com/.default"}},
		"refresh_token": {"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", []string{
			"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"}},
	},
	"google": {
		"refresh_token": {"https://oauth2.googleapis.com/token", []string{"https://mail.google.com/"}},
	},
}

// validateAuth checks the auth keys of section (imap or smtp) and reads
// the client secret.
func (c *Config) validateAuth(section string, a *ServerAuth, username string, bad func(key, format string, args ...any), getenv func(string) string) {
	a.CAFile = os.Expand(a.CAFile, getenv)
	if a.OAuth2 != nil {
		a.OAuth2.RefreshTokenFile = os.Expand(a.OAuth2.RefreshTokenFile, getenv)
	}
	switch a.Auth {
	case "", "password":
		if a.OAuth2 != nil {
			bad(section+".oauth2", "is set but %s.auth is %q: set %s.auth: oauth2 to use it, or remove it", section, a.Auth, section)
		}
	case "oauth2":
		if username == "" {
			bad(section+".username", "is required with auth: oauth2: the mailbox address the token is for")
		}
		if a.OAuth2 == nil {
			bad(section+".oauth2", "is required with %s.auth: oauth2: give provider, flow, client_id and the secret (see the README's Microsoft 365 and Google sections)", section)
			break
		}
		c.validateOAuth2(section+".oauth2", a.OAuth2, bad, getenv)
	default:
		bad(section+".auth", "is %q; use password or oauth2", a.Auth)
	}
	if a.CAFile != "" {
		if _, err := loadCAs(a.CAFile); err != nil {
			bad(section+".ca_file", "%v", err)
		}
	}
}

func (c *Config) validateOAuth2(key string, o *OAuth2Config, bad func(key, format string, args ...any), getenv func(string) string) {
	if o.Provider == "" {
		o.Provider = "custom"
	}
	defaults, known := providerDefaults[o.Provider]
	if !known && o.Provider != "custom" {
		bad(key+".provider", "is %q; use microsoft, google or custom", o.Provider)
		return
	}
	switch o.Flow {
	case "client_credentials", "refresh_token":
	case "":
		bad(key+".flow", "is required: client_credentials (an app's own access, Microsoft 365) or refresh_token (a user's consent, Google or delegated Microsoft 365)")
		return
	default:
		bad(key+".flow", "is %q; use client_credentials or refresh_token", o.Flow)
		return
	}
	if d, ok := defaults[o.Flow]; ok {
		if o.TokenURL == "" {
			if strings.Contains(d.tokenURL, "{tenant}") && o.TenantID == "" {
				bad(key+".tenant_id", "is required for provider microsoft: the Directory (tenant) ID shown on the app registration's overview")
			}
			o.TokenURL = strings.ReplaceAll(d.tokenURL, "{tenant}", url.PathEscape(o.TenantID))
		}
		if len(o.Scopes) == 0 {
			o.Scopes = d.scopes
		}
	} else if known {
		bad(key+".flow", "%s is not offered by provider %s; use refresh_token", o.Flow, o.Provider)
	}
	if o.TokenURL == "" {
		bad(key+".token_url", "is required for provider %s: the token endpoint's URL", o.Provider)
	} else if u, err := url.Parse(o.TokenURL); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		bad(key+".token_url", "%q is not an https URL (plain http only to a loopback host)", o.TokenURL)
	}
	if o.ClientID == "" {
		bad(key+".client_id", "is required: the app registration's client (application) id")
	}
	o.ClientCertificateFile = os.Expand(o.ClientCertificateFile, getenv)
	if o.ClientCertificateFile != "" {
		if o.ClientSecretEnv != "" || o.ClientSecretFile != "" {
			bad(key+".client_certificate_file", "is set together with a client secret: use one of them")
		}
		cert, err := loadClientCert(o.ClientCertificateFile)
		if err != nil {
			bad(key+".client_certificate_file", "%v", err)
		}
		o.cert = cert
	} else if o.ClientSecretEnv != "" || o.ClientSecretFile != "" || o.Flow == "client_credentials" {
		s, err := secret(key+".client_secret", o.ClientSecretEnv, o.ClientSecretFile, getenv)
		if err != nil {
			bad(secretKey(key+".client_secret", o.ClientSecretEnv, o.ClientSecretFile), "%v", err)
		}
		o.secret = s
	}
	if o.Flow == "refresh_token" {
		if o.RefreshTokenFile == "" {
			bad(key+".refresh_token_file", "is required with flow refresh_token: a file holding the refresh token, writable by backstop (the provider may rotate it)")
		} else if b, err := os.ReadFile(o.RefreshTokenFile); err != nil {
			bad(key+".refresh_token_file", "cannot be read: %v", err)
		} else if strings.TrimSpace(string(b)) == "" {
			bad(key+".refresh_token_file", "names %s, which is empty: put the refresh token from the consent step in it", o.RefreshTokenFile)
		}
	} else if o.RefreshTokenFile != "" {
		bad(key+".refresh_token_file", "is only used with flow refresh_token")
	}
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}

// tlsConfig builds the TLS configuration of a server section: base (tests
// pass their own), then ca_file and tls_server_name.
func (a *ServerAuth) tlsConfig(base *tls.Config) (*tls.Config, error) {
	if a.CAFile == "" && a.TLSServerName == "" {
		return base, nil
	}
	cfg := new(tls.Config)
	if base != nil {
		cfg = base.Clone()
	}
	if a.CAFile != "" {
		pool, err := loadCAs(a.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file %s: %w", a.CAFile, err)
		}
		cfg.RootCAs = pool
	}
	if a.TLSServerName != "" {
		cfg.ServerName = a.TLSServerName
	}
	return cfg, nil
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}
