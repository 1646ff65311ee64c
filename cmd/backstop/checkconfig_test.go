package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"backstop/mailbox/embedded"
	"backstop/mailbox/mailtest"
)

// TestCheckConfigConnectServers: check-config -connect says for each server what
// worked and what did not, and names the configuration key to change:
// against the in-memory server (separator "/") and Dovecot with its stock
// separator ("."), over implicit TLS with a private CA given in ca_file.
func TestCheckConfigConnectServers(t *testing.T) {
	type server struct {
		addr, user, pass string
		cert             *mailtest.Cert
		sep              string
	}
	servers := map[string]func(t *testing.T) server{
		"memserver": func(t *testing.T) server {
			s := mailtest.NewIMAPServer(t)
			return server{s.TLSAddr, s.Username, s.Password, s.Cert, "/"}
		},
		"dovecot": func(t *testing.T) server {
			d := mailtest.StartDovecot(t)
			return server{d.TLSAddr, d.Username, d.Password, d.Cert, "."}
		},
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			srv := start(t)
			smtpSrv, err := embedded.Start(embedded.Config{Domain: "acme.example", Password: "unused"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { smtpSrv.Close() })
			dir := t.TempDir()
			caFile := filepath.Join(dir, "ca.pem")
			os.WriteFile(caFile, srv.cert.CertPEM, 0o644)
			_, iport, _ := splitHostPort(srv.addr)
			_, sport, _ := splitHostPort(smtpSrv.SMTPAddr())
			refused := freePort(t)

			for _, tc := range []struct {
				name  string
				imap  string // extra imap keys
				pass  string
				code  int
				wants []string
			}{
				{"works", "  ca_file: " + caFile + "\n", srv.pass, 0, []string{
					"ok: logged in as " + srv.user,
					"ok: hierarchy separator \"" + srv.sep + "\"",
					"imap.processed_mailbox backstop" + srv.sep + "processed",
					"smtp 127.0.0.1:",
					"ok: connected (TLS none)",
				}},
				{"unknown authority", "", srv.pass, 1, []string{"FAILED", "imap.ca_file", "imap did not work"}},
				{"certificate for another name", "  ca_file: " + caFile + "\n  tls_server_name: mail.example.net\n", srv.pass, 1, []string{"FAILED", "imap.tls_server_name"}},
				{"wrong password", "  ca_file: " + caFile + "\n", "wrong", 1, []string{
					"ok: connected to", "FAILED", "check the username and password", "imap did not work",
				}},
				{"missing mailbox", "  ca_file: " + caFile + "\n  mailbox: Escalations/Missing\n", srv.pass, 1, []string{"ok: logged in", "FAILED", "imap.mailbox"}},
				{"connection refused", "  ca_file: " + caFile + "\n", srv.pass, 1, []string{"FAILED", "imap.port"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					port := iport
					if tc.name == "connection refused" {
						port = refused
					}
					cfg := strings.NewReplacer(
						"imap:\n  host: imap.acme.example\n  username: escalations@acme.example\n  password_env: IMAP_PW\n",
						fmt.Sprintf("imap:\n  host: 127.0.0.1\n  port: %d\n  tls: implicit\n  username: %s\n  password_env: IMAP_PW\n%s", port, srv.user, tc.imap),
						"  host: smtp.acme.example\n  username: escalations@acme.example\n  password_env: SMTP_PW\n",
						fmt.Sprintf("  host: 127.0.0.1\n  port: %d\n  tls: none\n", sport),
					).Replace(validConfig)
					path := filepath.Join(dir, "backstop.yaml")
					os.WriteFile(path, []byte(cfg), 0o600)
					t.Setenv("IMAP_PW", tc.pass)
					t.Setenv("TOKEN", testEnv("TOKEN"))
					var out, errOut strings.Builder
					code := run(t.Context(), []string{"check-config", "-connect", "-config", path}, &out, &errOut)
					all := out.String() + errOut.String()
					if code != tc.code {
						t.Errorf("exit %d, want %d:\n%s", code, tc.code, all)
					}
					for _, w := range tc.wants {
						if !strings.Contains(all, w) {
							t.Errorf("output lacks %q:\n%s", w, all)
						}
					}
					if strings.Contains(all, "wrong") && tc.pass == "wrong" {
						t.Errorf("the password is in the output")
					}
				})
			}
		})
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
