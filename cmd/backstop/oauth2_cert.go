package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"
)

// clientAssertionType is RFC 7523 section 2.2's client authentication by
// a signed JWT, which Microsoft Entra calls a certificate credential.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientCert is an app's certificate credential: the certificate (its
// public part uploaded to the app registration) and its RSA private key.
type clientCert struct {
	leaf *x509.Certificate
	key  *rsa.PrivateKey
}

// loadClientCert reads a PEM file holding the certificate and its private
// key (as `openssl req -x509 -newkey rsa:2048 -nodes` writes them, one
// after the other).
func loadClientCert(path string) (*clientCert, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", err)
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, fmt.Errorf("%s must hold the certificate and its private key, PEM: %v", path, err)
	}
	key, ok := pair.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: the private key must be RSA (RS256, what Microsoft Entra accepts)", path)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &clientCert{leaf: leaf, key: key}, nil
}

// assertion returns a fresh signed JWT for clientID at tokenURL: RS256,
// with the certificate's SHA-1 and SHA-256 thumbprints (x5t, x5t#S256) so
// the server knows which uploaded certificate checks it.
func (c *clientCert) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	s1 := sha1.Sum(c.leaf.Raw)
	s256 := sha256.Sum256(c.leaf.Raw)
	header, _ := json.Marshal(map[string]string{
		"alg": "RS256", "typ": "JWT",
		"x5t":      base64.RawURLEncoding.EncodeToString(s1[:]),
		"x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:]),
	})
	jti := make([]byte, 16)
	rand.Read(jti)
	claims, _ := json.Marshal(map[string]any{
		"aud": tokenURL, "iss": clientID, "sub": clientID, "jti": hex.EncodeToString(jti),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	signing := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// assertionParams are the token request's client authentication fields.
func (c *clientCert) assertionParams(clientID, tokenURL string) (url.Values, error) {
	if c == nil {
		return nil, errors.New("no client certificate")
	}
	jwt, err := c.assertion(clientID, tokenURL, time.Now())
	if err != nil {
		return nil, err
	}
	return url.Values{"client_assertion_type": {clientAssertionType}, "client_assertion": {jwt}}, nil
}
