package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"backstop/mailbox"
)

// Config is backstop's configuration file. The comments on its fields are
// the documentation of each key; config.example.yaml shows them all.
type Config struct {
	// Organisation is who runs backstop.
	Organisation OrganisationConfig `yaml:"organisation"`
	// IMAP is the mailbox backstop watches (the escalations@ mailbox).
	IMAP IMAPConfig `yaml:"imap"`
	// SMTP is the server backstop sends through.
	SMTP SMTPConfig `yaml:"smtp"`
	// People says who leads and who may report.
	People PeopleConfig `yaml:"people"`
	// Storage is where the incident database lives, and its encryption key.
	Storage StorageConfig `yaml:"storage"`
	// Retention says how long evidence, the audit trail and quarantined mail are kept.
	Retention RetentionConfig `yaml:"retention"`
	// Secrets holds where the reply-token key comes from.
	Secrets SecretsConfig `yaml:"secrets"`
	// Notices tunes the emails backstop sends to the team.
	Notices NoticesConfig `yaml:"notices"`
	// Commands tunes how leads' reply commands are verified and carried out.
	Commands CommandsConfig `yaml:"commands"`
	// Templates optionally overrides the embedded email templates.
	Templates TemplatesConfig `yaml:"templates"`
	// Log sets the daemon's logging.
	Log LogConfig `yaml:"log"`
	// HTTP optionally serves /healthz and /metrics for monitoring.
	HTTP HTTPConfig `yaml:"http"`
	// TimeSections are schedule, digest, reminders and checkins (config_schedule.go).
	TimeSections `yaml:",inline"`

	root *yaml.Node // for line numbers in errors
	path string     // the file it was read from
}

// OrganisationConfig describes the organisation running backstop.
type OrganisationConfig struct {
	// Name is shown to customers next to the lead's name ("Jane Doe, Acme Support").
	Name string `yaml:"name"`
	// SupportAddress is the customer-facing address customer emails come from.
	SupportAddress string `yaml:"support_address"`
	// EscalationsAddress is the watched address teammates forward to; replies
	// to backstop go to its +token subaddresses.
	EscalationsAddress string `yaml:"escalations_address"`
	// Timezone is an IANA zone name used for dates in emails (default UTC).
	Timezone string `yaml:"timezone"`
}

// IMAPConfig is the watched IMAP account.
type IMAPConfig struct {
	// Host is the IMAP server's name.
	Host string `yaml:"host"`
	// Port defaults to 993 for implicit TLS and 143 otherwise.
	Port int `yaml:"port"`
	// TLS is implicit (default), starttls, or none (loopback hosts only).
	TLS string `yaml:"tls"`
	// Username logs in.
	Username string `yaml:"username"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile names a file holding the password (trailing newline ignored).
	PasswordFile string `yaml:"password_file"`
	// ServerAuth: auth (password or oauth2), oauth2, ca_file, tls_server_name.
	ServerAuth `yaml:",inline"`
	// Mailbox is the watched mailbox (default INBOX). In the three mailbox
	// names "/" separates levels whatever the server's separator: on a server
	// that uses ".", backstop/processed is backstop.processed. Names already
	// written with the server's separator are used as they are.
	Mailbox string `yaml:"mailbox"`
	// ProcessedMailbox receives messages once handled (default backstop/processed).
	ProcessedMailbox string `yaml:"processed_mailbox"`
	// QuarantineMailbox receives messages that could not be processed (default backstop/quarantine).
	QuarantineMailbox string `yaml:"quarantine_mailbox"`
	// PollInterval is how often to poll when the server has no IDLE (default 1m).
	PollInterval Duration `yaml:"poll_interval"`
	// Keepalive is how long the connection may stay quiet before backstop
	// proves it still works (IDLE re-issued, or NOOP); a connection dropped
	// silently by a NAT or firewall is noticed within keepalive + 20s
	// (default 1m40s; some servers drop idle clients after 10m).
	Keepalive Duration `yaml:"keepalive"`
	// MaxMessageSize: larger messages are quarantined without being downloaded (default 50MiB).
	MaxMessageSize int64 `yaml:"max_message_size"`

	password string
}

// SMTPConfig is the outgoing mail server.
type SMTPConfig struct {
	// Host is the submission server's name.
	Host string `yaml:"host"`
	// Port defaults to 465 for implicit TLS and 587 otherwise.
	Port int `yaml:"port"`
	// TLS is implicit, starttls (default), or none (loopback hosts only).
	TLS string `yaml:"tls"`
	// Username logs in; empty sends without AUTH.
	Username string `yaml:"username"`
	// ServerAuth: auth (password or oauth2), oauth2, ca_file, tls_server_name.
	ServerAuth `yaml:",inline"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile names a file holding the password.
	PasswordFile string `yaml:"password_file"`
	// EnvelopeSender is the MAIL FROM of everything backstop sends. Empty or
	// the escalations address: escalations+bounce-ID@domain per email (VERP).
	EnvelopeSender string `yaml:"envelope_sender"`
	// CustomerBounceAddress receives the bounces of customer emails: their
	// MAIL FROM is local+bounce-ID-SIG@domain of it (signed VERP), so it
	// must be delivered into the watched mailbox (an alias of the
	// escalations mailbox that does not name it), and the SMTP server must
	// let the login send with it. Empty: customer emails go out with the
	// support address as MAIL FROM and their bounces reach the support
	// inbox, not backstop. Never the escalations address: the customer
	// would learn where reports go.
	CustomerBounceAddress string `yaml:"customer_bounce_address"`

	password string
}

// PeopleConfig lists the leads and the team.
type PeopleConfig struct {
	// Leads may act on every incident.
	Leads []PersonConfig `yaml:"leads"`
	// TeamDomains: anyone at these domains may report (forward) an incident.
	TeamDomains []string `yaml:"team_domains"`
	// TeamAddresses: these addresses may report too (contractors, other domains).
	TeamAddresses []string `yaml:"team_addresses"`
	// HeadOfSupport gets the reminders about incidents no lead acted on
	// within reminders.escalate_after (optional).
	HeadOfSupport PersonConfig `yaml:"head_of_support"`
}

// PersonConfig is a named address.
type PersonConfig struct {
	Name    string `yaml:"name"`
	Address string `yaml:"address"`
}

// StorageConfig is where data is kept.
type StorageConfig struct {
	// Path of the SQLite database (default ./backstop.db); created 0600.
	Path string `yaml:"path"`
	// KeyEnv names an environment variable holding the storage key: 32
	// random bytes, base64 (`openssl rand -base64 32`). Message bodies, raw
	// messages, attachments, notes and rendered emails are encrypted with
	// AES-256-GCM under data keys it wraps. With neither key_env nor
	// key_file, the key is read from $BACKSTOP_STORAGE_KEY.
	KeyEnv string `yaml:"key_env"`
	// KeyFile names a file holding the storage key (one of key_env / key_file);
	// ${CREDENTIALS_DIRECTORY} and any ${NAME} in it come from the environment.
	KeyFile string `yaml:"key_file"`

	key []byte
}

// SecretsConfig says where the reply-token key comes from.
type SecretsConfig struct {
	// TokenSecretEnv names an environment variable holding the key (32+ bytes).
	TokenSecretEnv string `yaml:"token_secret_env"`
	// TokenSecretFile names a file holding the key (32+ bytes).
	TokenSecretFile string `yaml:"token_secret_file"`

	secret []byte
}

// NoticesConfig tunes team emails.
type NoticesConfig struct {
	// Evidence is how the lead notice carries the conversation: attach (default,
	// a .eml attachment no preview pane shows), inline (below a content
	// warning), or none (leads reply SHOW to get it).
	Evidence string `yaml:"evidence"`
	// MaxPerIncidentPerHour caps emails per incident per hour (default 20).
	MaxPerIncidentPerHour int `yaml:"max_per_incident_per_hour"`
	// MaxPerRecipientPerHour caps emails per recipient per hour (default 30).
	MaxPerRecipientPerHour int `yaml:"max_per_recipient_per_hour"`
}

// CommandsConfig tunes lead commands.
type CommandsConfig struct {
	// Verify is token, domain or both (default both): what proves a reply
	// comes from the person it claims.
	Verify string `yaml:"verify"`
	// TrustedAuthservIDs are the authserv-ids of your own receiving servers
	// whose Authentication-Results headers are believed (RFC 8601 section 5).
	TrustedAuthservIDs []string `yaml:"trusted_authserv_ids"`
	// Hold is how long customer emails wait, cancellable, before sending (default 10m; 0 allowed).
	Hold *Duration `yaml:"hold"`
	// SeverApprovals is how many leads must agree to a SEVER (1 or 2; default 1).
	SeverApprovals int `yaml:"sever_approvals"`
	// CustomerReplyTo is lead or support (default support): where customers' answers go.
	CustomerReplyTo string `yaml:"customer_reply_to"`
}

// TemplatesConfig overrides the embedded templates.
type TemplatesConfig struct {
	// Dir holds NAME.txt / NAME.html files replacing the embedded ones.
	Dir string `yaml:"dir"`
}

// LogConfig sets logging.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}

// Duration is a time.Duration written as "90s", "10m", "1h".
type Duration time.Duration

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write it like 90s, 10m or 1h)", n.Line, n.Value)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// ConfigError is one problem in the configuration, with the key and line.
type ConfigError struct {
	File string
	Line int    // 0 when the key is missing
	Key  string // dotted path, e.g. imap.host
	Msg  string
}

func (e *ConfigError) Error() string {
	loc := "config"
	if e.File != "" {
		loc = "config " + e.File
		if e.Line > 0 {
			loc += ":" + strconv.Itoa(e.Line)
		}
	}
	return fmt.Sprintf("%s: %s %s", loc, e.Key, e.Msg)
}

// LoadConfig reads, defaults and validates a configuration file, resolving
// secrets from the environment and files.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config: %s does not exist: copy config.example.yaml, fill it in, and pass it with -config FILE (or try `backstop demo`, which needs none)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseConfig(path, data, os.Getenv)
}

func parseConfig(path string, data []byte, getenv func(string) string) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("config %s: not valid YAML: %w", path, err)
	}
	cfg := &Config{root: &root, path: path}
	dec = yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
		for typ, key := range map[string]string{"Config": "the top level", "OrganisationConfig": "organisation", "IMAPConfig": "imap",
			"SMTPConfig": "smtp", "PeopleConfig": "people", "PersonConfig": "people.leads", "StorageConfig": "storage",
			"SecretsConfig": "secrets", "NoticesConfig": "notices", "CommandsConfig": "commands", "TemplatesConfig": "templates", "LogConfig": "log",
			"ServerAuth": "imap or smtp", "OAuth2Config": "imap.oauth2 or smtp.oauth2", "HTTPConfig": "http",
			"ScheduleConfig": "schedule", "BusinessHoursConfig": "schedule.business_hours", "DigestConfig": "digest",
			"RemindersConfig": "reminders", "CheckinsConfig": "checkins", "RetentionConfig": "retention"} {
			msg = strings.ReplaceAll(msg, "in type main."+typ, "in "+key)
		}
		return nil, fmt.Errorf("config %s: %s (see config.example.yaml for the keys)", path, msg)
	}
	cfg.applyDefaults()
	if errs := cfg.validate(getenv); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

func (c *Config) applyDefaults() {
	if c.Organisation.Timezone == "" {
		c.Organisation.Timezone = "UTC"
	}
	if c.IMAP.TLS == "" {
		c.IMAP.TLS = "implicit"
	}
	if c.IMAP.Port == 0 {
		if c.IMAP.TLS == "implicit" {
			c.IMAP.Port = 993
		} else {
			c.IMAP.Port = 143
		}
	}
	if c.IMAP.Mailbox == "" {
		c.IMAP.Mailbox = "INBOX"
	}
	if c.IMAP.ProcessedMailbox == "" {
		c.IMAP.ProcessedMailbox = "backstop/processed"
	}
	if c.IMAP.QuarantineMailbox == "" {
		c.IMAP.QuarantineMailbox = "backstop/quarantine"
	}
	if c.IMAP.PollInterval == 0 {
		c.IMAP.PollInterval = Duration(time.Minute)
	}
	if c.IMAP.Keepalive == 0 {
		c.IMAP.Keepalive = Duration(mailbox.DefaultKeepalive)
	}
	if c.IMAP.Auth == "" {
		c.IMAP.Auth = "password"
	}
	if c.SMTP.Auth == "" {
		c.SMTP.Auth = "password"
	}
	if c.IMAP.MaxMessageSize == 0 {
		c.IMAP.MaxMessageSize = 50 << 20
	}
	if c.SMTP.TLS == "" {
		c.SMTP.TLS = "starttls"
	}
	if c.SMTP.Port == 0 {
		if c.SMTP.TLS == "implicit" {
			c.SMTP.Port = 465
		} else {
			c.SMTP.Port = 587
		}
	}
	if c.SMTP.EnvelopeSender == "" {
		c.SMTP.EnvelopeSender = c.Organisation.EscalationsAddress
	}
	if c.Storage.Path == "" {
		c.Storage.Path = "./backstop.db"
	}
	if c.Notices.Evidence == "" {
		c.Notices.Evidence = "attach"
	}
	if c.Notices.MaxPerIncidentPerHour == 0 {
		c.Notices.MaxPerIncidentPerHour = 20
	}
	if c.Notices.MaxPerRecipientPerHour == 0 {
		c.Notices.MaxPerRecipientPerHour = 30
	}
	if c.Commands.Verify == "" {
		c.Commands.Verify = "both"
	}
	if c.Commands.Hold == nil {
		d := Duration(10 * time.Minute)
		c.Commands.Hold = &d
	}
	if c.Commands.SeverApprovals == 0 {
		c.Commands.SeverApprovals = 1
	}
	if c.Commands.CustomerReplyTo == "" {
		c.Commands.CustomerReplyTo = "support"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	c.applyPrivacyDefaults()
	c.applyTimeDefaults()
}

// line finds the line of a dotted key in the YAML document, or of its
// nearest present parent; 0 when nothing is there.
func (c *Config) line(key string) int {
	if c.root == nil || len(c.root.Content) == 0 {
		return 0
	}
	n := c.root.Content[0]
	line := 0
	for _, part := range strings.Split(key, ".") {
		if idx, err := strconv.Atoi(part); err == nil && n.Kind == yaml.SequenceNode {
			if idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
			continue
		}
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}

func (c *Config) validate(getenv func(string) string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{File: c.path, Line: c.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	required := func(key, value, what string) bool {
		if strings.TrimSpace(value) == "" {
			bad(key, "is required: %s", what)
			return false
		}
		return true
	}
	addr := func(key, value, what string) {
		if !required(key, value, what) {
			return
		}
		if a, err := mail.ParseAddress(value); err != nil || a.Address != value || !strings.Contains(value, "@") {
			bad(key, "%q is not an email address (write it as name@domain, without a display name)", value)
		}
	}

	o := c.Organisation
	required("organisation.name", o.Name, "the name customers see next to the lead's name")
	addr("organisation.support_address", o.SupportAddress, "the customer-facing address, e.g. support@acme.example")
	addr("organisation.escalations_address", o.EscalationsAddress, "the watched address, e.g. escalations@acme.example")
	if strings.Contains(localPart(o.EscalationsAddress), "+") {
		bad("organisation.escalations_address", "must not contain '+': backstop adds +token subaddresses itself")
	}
	if _, err := time.LoadLocation(o.Timezone); err != nil {
		bad("organisation.timezone", "%q is not an IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)", o.Timezone)
	}

	im := &c.IMAP
	if required("imap.host", im.Host, "the IMAP server's host name") {
		if err := checkTLS(im.TLS, im.Host); err != nil {
			bad("imap.tls", "%v", err)
		}
	}
	checkPort(bad, "imap.port", im.Port)
	required("imap.username", im.Username, "the login of the escalations mailbox")
	c.validateAuth("imap", &im.ServerAuth, im.Username, bad, getenv)
	if im.Auth != "oauth2" {
		if p, err := secret("imap.password", im.PasswordEnv, im.PasswordFile, getenv); err != nil {
			bad(secretKey("imap.password", im.PasswordEnv, im.PasswordFile), "%v", err)
		} else {
			im.password = p
		}
	}
	if time.Duration(im.Keepalive) > 25*time.Minute || (im.Keepalive != 0 && time.Duration(im.Keepalive) < 10*time.Second) {
		bad("imap.keepalive", "is %v; use between 10s and 25m (default 1m40s)", time.Duration(im.Keepalive))
	}
	if im.ProcessedMailbox == im.Mailbox || im.QuarantineMailbox == im.Mailbox {
		bad("imap.processed_mailbox", "processed and quarantine mailboxes must differ from the watched mailbox %q", im.Mailbox)
	}
	if im.MaxMessageSize < 0 {
		bad("imap.max_message_size", "must be positive (bytes)")
	}

	sm := &c.SMTP
	if required("smtp.host", sm.Host, "the SMTP submission server's host name") {
		if err := checkTLS(sm.TLS, sm.Host); err != nil {
			bad("smtp.tls", "%v", err)
		}
	}
	checkPort(bad, "smtp.port", sm.Port)
	c.validateAuth("smtp", &sm.ServerAuth, sm.Username, bad, getenv)
	if sm.Username != "" && sm.Auth != "oauth2" {
		if p, err := secret("smtp.password", sm.PasswordEnv, sm.PasswordFile, getenv); err != nil {
			bad(secretKey("smtp.password", sm.PasswordEnv, sm.PasswordFile), "%v", err)
		} else {
			sm.password = p
		}
	}
	if sm.EnvelopeSender != "" {
		addr("smtp.envelope_sender", sm.EnvelopeSender, "")
	}
	if sm.CustomerBounceAddress != "" {
		addr("smtp.customer_bounce_address", sm.CustomerBounceAddress, "")
		if strings.EqualFold(sm.CustomerBounceAddress, c.Organisation.EscalationsAddress) {
			bad("smtp.customer_bounce_address", "must not be the escalations address: customers would learn where reports go; use an alias such as bounces@ delivered into the same mailbox")
		}
	}

	if len(c.People.Leads) == 0 {
		bad("people.leads", "is required: at least one lead (name and address) must receive incidents")
	}
	for i, l := range c.People.Leads {
		key := fmt.Sprintf("people.leads.%d", i)
		required(key+".name", l.Name, "the lead's name, used to sign customer emails")
		addr(key+".address", l.Address, "the lead's email address")
	}
	if len(c.People.TeamDomains) == 0 && len(c.People.TeamAddresses) == 0 {
		bad("people.team_domains", "is required: list the domains (or people.team_addresses) whose members may report incidents")
	}
	for i, d := range c.People.TeamDomains {
		if d == "" || strings.ContainsAny(d, "@ ") {
			bad(fmt.Sprintf("people.team_domains.%d", i), "%q is not a domain (write acme.example, no @)", d)
		}
	}
	for i, a := range c.People.TeamAddresses {
		addr(fmt.Sprintf("people.team_addresses.%d", i), a, "")
	}

	if s, err := secret("secrets.token_secret", c.Secrets.TokenSecretEnv, c.Secrets.TokenSecretFile, getenv); err != nil {
		bad(secretKey("secrets.token_secret", c.Secrets.TokenSecretEnv, c.Secrets.TokenSecretFile), "%v", err)
	} else if len(s) < 32 {
		bad(secretKey("secrets.token_secret", c.Secrets.TokenSecretEnv, c.Secrets.TokenSecretFile), "holds %d bytes; the reply-token secret needs at least 32 bytes (make one with `head -c 32 /dev/urandom | base64`)", len(s))
	} else {
		c.Secrets.secret = []byte(s)
	}

	c.validatePrivacy(bad, getenv)

	switch c.Notices.Evidence {
	case "attach", "inline", "none":
	default:
		bad("notices.evidence", "is %q; use attach, inline or none", c.Notices.Evidence)
	}
	if c.Notices.MaxPerIncidentPerHour < 0 {
		bad("notices.max_per_incident_per_hour", "must be positive")
	}
	if c.Notices.MaxPerRecipientPerHour < 0 {
		bad("notices.max_per_recipient_per_hour", "must be positive")
	}

	switch c.Commands.Verify {
	case "token", "domain", "both":
	default:
		bad("commands.verify", "is %q; use token, domain or both", c.Commands.Verify)
	}
	if c.Commands.Verify != "token" && len(c.Commands.TrustedAuthservIDs) == 0 {
		bad("commands.trusted_authserv_ids", "is required when commands.verify is %q: name your receiving server's authserv-id (the first word of its Authentication-Results headers), or set verify: token", c.Commands.Verify)
	}
	if c.Commands.SeverApprovals != 1 && c.Commands.SeverApprovals != 2 {
		bad("commands.sever_approvals", "is %d; use 1 or 2", c.Commands.SeverApprovals)
	}
	switch c.Commands.CustomerReplyTo {
	case "lead", "support":
	default:
		bad("commands.customer_reply_to", "is %q; use lead or support", c.Commands.CustomerReplyTo)
	}

	if c.Templates.Dir != "" {
		if st, err := os.Stat(c.Templates.Dir); err != nil || !st.IsDir() {
			bad("templates.dir", "%q is not a readable directory", c.Templates.Dir)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "is %q; use debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "is %q; use text or json", c.Log.Format)
	}
	c.validateHTTP(bad)
	errs = append(errs, c.validateTime()...)
	return errs
}

func checkPort(bad func(string, string, ...any), key string, port int) {
	if port < 1 || port > 65535 {
		bad(key, "is %d; use a TCP port between 1 and 65535", port)
	}
}

// checkTLS refuses plain-text connections to anything but loopback; the
// rule is mailbox.TLSMode's, the wording names the configuration key.
func checkTLS(mode, host string) error {
	switch err := mailbox.TLSMode(mode).Validate(host); {
	case err == nil:
		return nil
	case mode == string(mailbox.TLSNone):
		return fmt.Errorf("is none but %s is not a loopback host: passwords and abusive mail would cross the network in clear; use implicit or starttls", host)
	default:
		return fmt.Errorf("is %q; use implicit, starttls or none (none on loopback only)", mode)
	}
}

// secret reads a secret from an environment variable or a file; exactly
// one must be named. what is the dotted key without _env/_file
// (imap.password, secrets.token_secret).
func secret(what, env, file string, getenv func(string) string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", fmt.Errorf("and %s_file are both set: set one of them", what)
	case env != "":
		v := getenv(env)
		if v == "" {
			return "", fmt.Errorf("names the environment variable %s, which is empty or not set", env)
		}
		return v, nil
	case file != "":
		// ${CREDENTIALS_DIRECTORY} (systemd's LoadCredential=) and any
		// other ${NAME} come from the environment.
		file = os.Expand(file, getenv)
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("cannot be read: %v", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("names %s, which is empty", file)
		}
		return v, nil
	default:
		return "", fmt.Errorf("is required: set it (an environment variable) or %s_file (a file) instead; secrets are never written in the config itself", what)
	}
}

// secretKey is the key an error about a secret names: the one set, or the
// _env form when neither is.
func secretKey(prefix, env, file string) string {
	if file != "" && env == "" {
		return prefix + "_file"
	}
	return prefix + "_env"
}

func localPart(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[:i]
	}
	return addr
}
