package main

import (
	"context"
	"os"
	"strings"
	"time"

	"backstop/workflow"
)

// RetentionConfig says how long backstop keeps what it stored. Purges run
// daily inside serve, and on demand with `backstop purge [-dry-run]`.
type RetentionConfig struct {
	// Evidence: this long after an incident is resolved, closed or severed,
	// its message bodies, raw messages, attachments and rendered emails are
	// purged; the audit trail and the fact that evidence existed (with its
	// SHA-256) stay. Default 4320h (180 days).
	Evidence Duration `yaml:"evidence"`
	// Audit: this long after an incident is resolved, closed or severed,
	// the rest of it goes too (its audit trail, its outbox rows, the
	// incident itself; a severed customer then leaves the block list).
	// Default 26280h (3 years).
	Audit Duration `yaml:"audit"`
	// Quarantine: quarantined mail from outsiders is purged this long after
	// it arrived. Default 720h (30 days).
	Quarantine Duration `yaml:"quarantine"`
}

// storageKeyHelp says how to make a storage key.
const storageKeyHelp = "make one with `openssl rand -base64 32 > /etc/backstop/storage-key` (or `backstop keygen`), chmod 600 it, and name it in storage.key_file (or put it in the variable storage.key_env names)"

func (c *Config) applyPrivacyDefaults() {
	r := &c.Retention
	if r.Evidence == 0 {
		r.Evidence = Duration(180 * 24 * time.Hour)
	}
	if r.Audit == 0 {
		r.Audit = Duration(3 * 365 * 24 * time.Hour)
	}
	if r.Quarantine == 0 {
		r.Quarantine = Duration(30 * 24 * time.Hour)
	}
}

// validatePrivacy reads the storage key and checks the retention periods.
func (c *Config) validatePrivacy(bad func(key, format string, args ...any), getenv func(string) string) {
	s := &c.Storage
	var text, key string
	switch {
	case s.KeyEnv != "" && s.KeyFile != "":
		bad("storage.key_env", "and storage.key_file are both set: set one of them")
		return
	case s.KeyEnv != "":
		key = "storage.key_env"
		if text = getenv(s.KeyEnv); text == "" {
			bad(key, "names the environment variable %s, which is empty or not set: it must hold the storage key that encrypts the database; %s", s.KeyEnv, storageKeyHelp)
			return
		}
	case s.KeyFile != "":
		key = "storage.key_file"
		// ${CREDENTIALS_DIRECTORY} (systemd's LoadCredential=) and any
		// ${NAME} come from the environment, as in every _file key.
		s.KeyFile = os.Expand(s.KeyFile, getenv)
		b, err := os.ReadFile(s.KeyFile)
		if err != nil {
			bad(key, "cannot be read: %v; it must hold the storage key that encrypts the database; %s", err, storageKeyHelp)
			return
		}
		if fi, err := os.Stat(s.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			bad(key, "%s has mode %v: others may read the key that decrypts the database; chmod 600 %s", s.KeyFile, fi.Mode().Perm(), s.KeyFile)
			return
		}
		text = string(b)
	default:
		// Neither is set: the key is in $BACKSTOP_STORAGE_KEY.
		key = "storage.key_env"
		if text = getenv(storageKeyEnv); text == "" {
			bad("storage.key_file", "is required (or storage.key_env; without either the key is read from $%s, which is empty): the database is encrypted with a storage key of 32 random bytes, base64, kept out of this file; %s", storageKeyEnv, storageKeyHelp)
			return
		}
	}
	k, err := workflow.ParseKey(strings.TrimSpace(text))
	if err != nil {
		bad(key, "%v", err)
		return
	}
	s.key = k

	r := c.Retention
	if r.Audit < r.Evidence {
		bad("retention.audit", "(%s) is shorter than retention.evidence (%s): the record of what was done must outlive the evidence", time.Duration(r.Audit), time.Duration(r.Evidence))
	}
}

// retention is the workflow form of the retention section.
func (c *Config) retention() workflow.Retention {
	return workflow.Retention{
		Evidence:   time.Duration(c.Retention.Evidence),
		Audit:      time.Duration(c.Retention.Audit),
		Quarantine: time.Duration(c.Retention.Quarantine),
	}
}

// openStore opens the database with the configured storage key.
func (c *Config) openStore(ctx context.Context) (*workflow.Store, error) {
	return workflow.Open(ctx, c.Storage.Path, c.Storage.key)
}
