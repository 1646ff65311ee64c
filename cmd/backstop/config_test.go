package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validConfig = `organisation:
  name: Acme Support
  support_address: support@acme.example
  escalations_address: escalations@acme.example
  timezone: Europe/Berlin
imap:
  host: imap.acme.example
  username: escalations@acme.example
  password_env: IMAP_PW
smtp:
  host: smtp.acme.example
  username: escalations@acme.example
  password_env: SMTP_PW
people:
  leads:
    - name: Jane Doe
      address: jane@acme.example
  team_domains: [acme.example]
secrets:
  token_secret_env: TOKEN
commands:
  trusted_authserv_ids: [mx.acme.example]
`

func testEnv(name string) string {
	return map[string]string{
		"IMAP_PW": "imap-secret",
		"SMTP_PW": "smtp-secret",
		"TOKEN":   "0123456789abcdef0123456789abcdef",
		// testStorageKey, base64 (privacy_test.go)
		"BACKSTOP_STORAGE_KEY": "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=",
	}[name]
}

func TestConfigValid(t *testing.T) {
	cfg, err := parseConfig("test.yaml", []byte(validConfig), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IMAP.Port != 993 || cfg.SMTP.Port != 587 || cfg.IMAP.Mailbox != "INBOX" {
		t.Errorf("defaults not applied: imap port %d, smtp port %d, mailbox %q", cfg.IMAP.Port, cfg.SMTP.Port, cfg.IMAP.Mailbox)
	}
	if cfg.IMAP.password != "imap-secret" || string(cfg.Secrets.secret) != testEnv("TOKEN") {
		t.Error("secrets not resolved from the environment")
	}
	if cfg.Storage.Path != "./backstop.db" || cfg.Notices.Evidence != "attach" || cfg.Commands.Verify != "both" {
		t.Errorf("defaults: %+v %+v", cfg.Storage, cfg.Notices)
	}
}

// TestConfigExample keeps config.example.yaml valid.
func TestConfigExample(t *testing.T) {
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "token-secret")
	os.WriteFile(secretFile, []byte("0123456789abcdef0123456789abcdef\n"), 0o600)
	data = []byte(strings.ReplaceAll(string(data), "/etc/backstop/token-secret", secretFile))
	keyFile := filepath.Join(dir, "storage-key")
	os.WriteFile(keyFile, []byte(testEnv(storageKeyEnv)+"\n"), 0o600)
	data = []byte(strings.ReplaceAll(string(data), "/etc/backstop/storage-key", keyFile))
	env := func(k string) string {
		return map[string]string{"BACKSTOP_IMAP_PASSWORD": "x", "BACKSTOP_SMTP_PASSWORD": "y"}[k]
	}
	if _, err := parseConfig("config.example.yaml", data, env); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want string // substring of the error
	}{
		{"missing imap host", replace("  host: imap.acme.example\n", ""), "imap.host is required"},
		{"plain text to remote host", replace("  host: imap.acme.example\n", "  host: imap.acme.example\n  tls: none\n"), "config test.yaml:8: imap.tls is none but imap.acme.example is not a loopback host"},
		{"plain text to loopback is fine", replace("  host: imap.acme.example\n", "  host: 127.0.0.1\n  tls: none\n"), ""},
		{"bad tls mode", replace("  host: smtp.acme.example\n", "  host: smtp.acme.example\n  tls: ssl\n"), `smtp.tls is "ssl"; use implicit, starttls or none`},
		{"unknown key", replace("  timezone: Europe/Berlin\n", "  timezone: Europe/Berlin\n  colour: blue\n"), "line 6: field colour not found"},
		{"bad timezone", replace("Europe/Berlin", "Mars/Olympus"), `config test.yaml:5: organisation.timezone "Mars/Olympus" is not an IANA time zone`},
		{"no leads", replace("  leads:\n    - name: Jane Doe\n      address: jane@acme.example\n", ""), "people.leads is required"},
		{"bad lead address", replace("address: jane@acme.example", "address: Jane <jane@acme.example>"), "config test.yaml:17: people.leads.0.address"},
		{"password env unset", replace("password_env: IMAP_PW", "password_env: NOPE"), "environment variable NOPE"},
		{"no password", replace("  password_env: IMAP_PW\n", ""), "imap.password_env is required"},
		{"password env and file", replace("password_env: IMAP_PW", "password_env: IMAP_PW\n  password_file: /x"), "imap.password_env and imap.password_file are both set: set one of them"},
		{"token secret env and file", replace("token_secret_env: TOKEN", "token_secret_env: TOKEN\n  token_secret_file: /x"), "secrets.token_secret_env and secrets.token_secret_file are both set"},
		{"short secret", replace("token_secret_env: TOKEN", "token_secret_env: IMAP_PW"), "at least 32 bytes"},
		{"plus in escalations", replace("escalations@acme", "escalations+x@acme"), "must not contain '+'"},
		{"bad duration", replace("  host: imap.acme.example\n", "  host: imap.acme.example\n  poll_interval: soon\n"), `"soon" is not a duration`},
		{"bad evidence mode", func(s string) string { return s + "notices:\n  evidence: paste\n" }, `notices.evidence is "paste"; use attach, inline or none`},
		{"domain verification needs authserv", replace("  trusted_authserv_ids: [mx.acme.example]\n", "  verify: domain\n"), "commands.trusted_authserv_ids is required"},
		{"not yaml", func(string) string { return "organisation: [\n" }, "not valid YAML"},
		{"bad port", replace("  host: imap.acme.example\n", "  host: imap.acme.example\n  port: 99999\n"), "imap.port is 99999"},
		{"unknown auth", replace("  password_env: IMAP_PW\n", "  password_env: IMAP_PW\n  auth: kerberos\n"), `imap.auth is "kerberos"; use password or oauth2`},
		{"oauth2 without its section", replace("  password_env: IMAP_PW\n", "  auth: oauth2\n"), "imap.oauth2 is required with imap.auth: oauth2"},
		{"microsoft needs a tenant", replace("  password_env: IMAP_PW\n", "  auth: oauth2\n  oauth2:\n    provider: microsoft\n    flow: client_credentials\n    client_id: abc\n    client_secret_env: IMAP_PW\n"), "imap.oauth2.tenant_id is required"},
		{"microsoft client credentials", replace("  password_env: IMAP_PW\n", "  auth: oauth2\n  oauth2:\n    provider: microsoft\n    flow: client_credentials\n    tenant_id: t1\n    client_id: abc\n    client_secret_env: IMAP_PW\n"), ""},
		{"client secret missing", replace("  password_env: IMAP_PW\n", "  auth: oauth2\n  oauth2:\n    provider: microsoft\n    flow: client_credentials\n    tenant_id: t1\n    client_id: abc\n"), "imap.oauth2.client_secret_env is required"},
		{"refresh token file missing", replace("  password_env: SMTP_PW\n", "  auth: oauth2\n  oauth2:\n    provider: google\n    flow: refresh_token\n    client_id: abc\n    refresh_token_file: /nonexistent/rt\n"), "smtp.oauth2.refresh_token_file cannot be read"},
		{"google has no client credentials", replace("  password_env: SMTP_PW\n", "  auth: oauth2\n  oauth2:\n    provider: google\n    flow: client_credentials\n    client_id: abc\n    client_secret_env: IMAP_PW\n"), "client_credentials is not offered by provider google"},
		{"token url not https", replace("  password_env: SMTP_PW\n", "  auth: oauth2\n  oauth2:\n    flow: client_credentials\n    token_url: http://idp.example/token\n    client_id: abc\n    client_secret_env: IMAP_PW\n"), "is not an https URL"},
		{"ca file missing", replace("  password_env: IMAP_PW\n", "  password_env: IMAP_PW\n  ca_file: /nonexistent/ca.pem\n"), "imap.ca_file cannot be read"},
		{"keepalive too long", replace("  password_env: IMAP_PW\n", "  password_env: IMAP_PW\n  keepalive: 1h\n"), "imap.keepalive is 1h0m0s"},
		{"http listen not host:port", func(s string) string { return s + "http:\n  listen: 9464\n" }, "http.listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig("test.yaml", []byte(tt.edit(validConfig)), testEnv)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n%v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("test config lacks " + old)
		}
		return strings.Replace(s, old, new, 1)
	}
}

// TestCheckConfigTemplates: check-config renders the templates, so that an
// override that does not parse or render is found before startup, with its
// file and line; a good override passes.
func TestCheckConfigTemplates(t *testing.T) {
	tests := []struct {
		name     string
		boundary string // contents of the override boundary.txt
		want     string // in the error; "" for success
	}{
		{"does not parse", "Subject: Hello\n\nDear {{.Customer.Name\n", "boundary.txt:3"},
		{"unknown field", "Subject: Hello\n\nDear {{.Customer.Nickname}}\n", "boundary.txt:3"},
		{"good override", "Subject: About our conversations\n\nDear {{.Customer.Name}},\n\nPlease be kind.\n\n{{.Lead.Name}}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tdir := filepath.Join(dir, "templates")
			os.Mkdir(tdir, 0o755)
			os.WriteFile(filepath.Join(tdir, "boundary.txt"), []byte(tt.boundary), 0o644)
			cfg := validConfig + "templates:\n  dir: " + tdir + "\n"
			path := filepath.Join(dir, "backstop.yaml")
			os.WriteFile(path, []byte(cfg), 0o600)
			for k, v := range map[string]string{"IMAP_PW": "x", "SMTP_PW": "y", "TOKEN": testEnv("TOKEN")} {
				t.Setenv(k, v)
			}
			var out, errOut strings.Builder
			code := run(t.Context(), []string{"check-config", "-config", path}, &out, &errOut)
			if tt.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut.String())
				}
				return
			}
			if code != 1 || !strings.Contains(errOut.String(), tt.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 naming %s", code, errOut.String(), tt.want)
			}
		})
	}
}
