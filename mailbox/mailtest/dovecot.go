package mailtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// DovecotEnv is the environment variable that enables tests against a real
// Dovecot: they run only when it is "1" and the dovecot binary is found.
const DovecotEnv = "BACKSTOP_TEST_DOVECOT"

// DovecotSkipReason is the message a test skips with when Dovecot is not
// available or not enabled.
const DovecotSkipReason = "dovecot tests skipped: install dovecot-imapd (apt-get install dovecot-imapd dovecot-lmtpd) and set " + DovecotEnv + "=1"

// Dovecot is a real Dovecot IMAP server started for one test, with its own
// configuration, a passwd-file user and maildir storage in a private
// directory, listening on loopback ports only.
type Dovecot struct {
	// Addr is the plain-text IMAP address; it offers STARTTLS and accepts
	// LOGIN without TLS (loopback tests only).
	Addr string
	// TLSAddr is the implicit-TLS (imaps) address.
	TLSAddr string
	// Username and Password log in as the test user.
	Username, Password string
	// Cert is the server's certificate; Cert.ClientConfig() trusts it.
	Cert *Cert
	// Dir holds the configuration, the log (dovecot.log) and the mail.
	Dir string

	account
	t         testing.TB
	bin, conf string
	daemon
}

// DovecotOption changes the configuration of a test Dovecot.
type DovecotOption func(*dovecotOptions)

type dovecotOptions struct {
	separator string
	oauth2    string   // introspection URL: oauth2 passdb enabled
	extra     []string // configuration appended as is
	files     map[string][]byte
}

// WithSeparator sets the hierarchy separator of the inbox namespace. The
// default is Dovecot's stock one: "." with Maildir.
func WithSeparator(sep string) DovecotOption {
	return func(o *dovecotOptions) { o.separator = sep }
}

// WithConfig appends configuration to dovecot.conf; "DIR" in it is
// replaced by the server's directory. files are written to that directory
// first, with DIR replaced in them too.
func WithConfig(conf string, files map[string]string) DovecotOption {
	return func(o *dovecotOptions) {
		o.extra = append(o.extra, conf)
		if o.files == nil {
			o.files = map[string][]byte{}
		}
		for name, data := range files {
			o.files[name] = []byte(data)
		}
	}
}

// DovecotAvailable reports whether Dovecot tests are enabled and the
// binary is installed. err is set when the environment asks for them but
// they cannot run: BACKSTOP_TEST_DOVECOT is set to something other than
// "1", or dovecot is not installed.
func DovecotAvailable() (path string, ok bool, err error) {
	switch v := os.Getenv(DovecotEnv); v {
	case "":
		return "", false, nil
	case "1":
	default:
		return "", false, fmt.Errorf("%s=%q: set it to 1 to run the Dovecot tests, or leave it empty to skip them", DovecotEnv, v)
	}
	path, lerr := exec.LookPath("dovecot")
	if lerr == nil {
		return path, true, nil
	}
	for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
		if _, err := os.Stat(p); err == nil {
			return p, true, nil
		}
	}
	return "", false, fmt.Errorf("%s=1 but dovecot is not installed: apt-get install dovecot-imapd dovecot-lmtpd, or unset %s", DovecotEnv, DovecotEnv)
}

// StartDovecot starts a Dovecot for this test and stops it when the test
// ends. It skips the test (DovecotSkipReason) when BACKSTOP_TEST_DOVECOT
// is empty, and fails it when the variable is set but the tests cannot
// run (see DovecotAvailable): a real-server suite never skips unnoticed.
// The hierarchy separator is Dovecot's stock "." unless WithSeparator
// says otherwise.
func StartDovecot(t testing.TB, opts ...DovecotOption) *Dovecot {
	t.Helper()
	bin, ok, err := DovecotAvailable()
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	if !ok {
		t.Skip(DovecotSkipReason)
	}
	var o dovecotOptions
	for _, opt := range opts {
		opt(&o)
	}

	// Not t.TempDir(): it is created 0700 and Dovecot's mail processes run
	// as nobody when started by root; they must be able to enter it.
	dir, err := os.MkdirTemp("", "backstop-dovecot-")
	if err != nil {
		t.Fatalf("mailtest: dovecot: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("mailtest: dovecot: %v", err)
	}
	mailDir := filepath.Join(dir, "mail")
	if err := os.Mkdir(mailDir, 0o777); err != nil {
		t.Fatalf("mailtest: dovecot: %v", err)
	}
	os.Chmod(mailDir, 0o777) // umask

	d := &Dovecot{Username: DefaultUsername, Password: DefaultPassword, Cert: NewCert(t), Dir: dir}
	files := map[string][]byte{
		"cert.pem": d.Cert.CertPEM,
		"key.pem":  d.Cert.KeyPEM,
		"passwd":   fmt.Appendf(nil, "%s:{PLAIN}%s::::::\n", d.Username, d.Password),
	}
	for name, data := range o.files {
		files[name] = bytes.ReplaceAll(data, []byte("DIR"), []byte(dir))
	}
	if o.oauth2 != "" {
		// Verified against Dovecot 2.3.19 (shared notes): form POST of
		// token=T, RFC 7662 JSON back; no cache, every login introspected.
		files["oauth2.conf.ext"] = fmt.Appendf(nil, `introspection_mode = post
introspection_url = %s
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = 5000
`, o.oauth2)
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatalf("mailtest: dovecot: %v", err)
		}
	}
	ports := freePorts(t, 2)
	d.Addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ports[0]))
	d.TLSAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ports[1]))

	conf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(conf, []byte(dovecotConfig(t, dir, ports[0], ports[1], &o)), 0o644); err != nil {
		t.Fatalf("mailtest: dovecot: %v", err)
	}

	d.bin, d.conf, d.t = bin, conf, t
	if err := d.launch(); err != nil {
		d.logTail(t)
		t.Fatalf("mailtest: %v", err)
	}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			d.logTail(t)
		}
	})
	d.account.init(t, d.Addr, d.Username, d.Password)
	return d
}

// launch starts the dovecot process and waits until it listens.
func (d *Dovecot) launch() error {
	cmd := exec.Command(d.bin, "-F", "-c", d.conf)
	return d.daemon.start("dovecot", cmd, filepath.Join(d.Dir, "stdout.log"), d.Addr, d.TLSAddr)
}

// Stop stops the server, as an outage would: clients' connections are
// closed and new ones refused until Start.
func (d *Dovecot) Stop() { d.stop() }

// Start starts a stopped server again, on the same ports, with the same
// mail.
func (d *Dovecot) Start() {
	d.t.Helper()
	if err := d.launch(); err != nil {
		d.logTail(d.t)
		d.t.Fatalf("mailtest: %v", err)
	}
}

func dovecotConfig(t testing.TB, dir string, imapPort, imapsPort int, o *dovecotOptions) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Generated by backstop's mailtest for one test run.
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
listen = 127.0.0.1
protocols = imap
shutdown_clients = yes

ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
# Loopback tests only: LOGIN without TLS on the plain port.
disable_plaintext_auth = no
auth_mechanisms = plain login%[5]s
# Tests log in with wrong passwords on purpose: no delay for them.
auth_failure_delay = 0
%[6]s
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd%[7]s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/passwd
}
mail_home = %[1]s/mail/%%u
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
%[4]s}

# Nor the growing penalty for repeated failures from one address: auth
# cannot reach anvil's penalty socket.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[3]d
    ssl = yes
  }
}
`, dir, imapPort, imapsPort, sepLine(o.separator), oauthMechs(o), oauthPassdb(dir, o), passwordMechs(o))
	for _, extra := range o.extra {
		b.WriteString(strings.ReplaceAll(extra, "DIR", dir))
		b.WriteString("\n")
	}

	if os.Geteuid() == 0 {
		// As root Dovecot refuses mail access as uid 0.
		b.WriteString("mail_uid = nobody\nmail_gid = nogroup\n")
	} else {
		name, group := currentUser(t, "dovecot")
		fmt.Fprintf(&b, `default_internal_user = %[1]s
default_internal_group = %[2]s
default_login_user = %[1]s
service imap-login {
  chroot =
}
service anvil {
  chroot =
}
`, name, group)
	}
	return b.String()
}

func oauthMechs(o *dovecotOptions) string {
	if o.oauth2 == "" {
		return ""
	}
	return " xoauth2 oauthbearer"
}

// oauthPassdb is the oauth2 passdb, before the passwd-file one. A refused
// token is delayed as on a stock Dovecot (about a second; no nodelay
// passdb): backstop's CommandTimeout is far longer.
func oauthPassdb(dir string, o *dovecotOptions) string {
	if o.oauth2 == "" {
		return ""
	}
	return fmt.Sprintf(`passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = %[1]s/oauth2.conf.ext
}
`, dir)
}

func passwordMechs(o *dovecotOptions) string {
	if o.oauth2 == "" {
		return ""
	}
	return "\n  mechanisms = plain login"
}

func sepLine(sep string) string {
	if sep == "" {
		return ""
	}
	return "  separator = " + sep + "\n"
}

// freePorts finds n free loopback TCP ports. They are released before
// Dovecot binds them; another process could take one in between, which
// on a test machine is unlikely enough.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln := listen(t)
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func waitListening(ctx context.Context, addr string, exited <-chan struct{}, exitErr *error) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the server exited (status %v) before it listened on %s; its port may have been taken by another test process", *exitErr, addr)
		case <-ctx.Done():
			return fmt.Errorf("%s not accepting connections: %w", addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *Dovecot) logTail(t testing.TB) {
	for _, name := range []string{"dovecot.log", "stdout.log"} {
		data, err := os.ReadFile(filepath.Join(d.Dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		if len(data) > 8<<10 {
			data = data[len(data)-8<<10:]
		}
		t.Logf("mailtest: %s:\n%s", name, bytes.TrimSpace(data))
	}
}
