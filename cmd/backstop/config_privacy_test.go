package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigStorageKeyAndRetention(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "key-0644")
	os.WriteFile(open, []byte(testEnv(storageKeyEnv)+"\n"), 0o644)
	good := filepath.Join(dir, "key-0600")
	os.WriteFile(good, []byte(testEnv(storageKeyEnv)+"\n"), 0o600)
	keyLine := "storage:\n  key_env: STORAGE_KEY\n"
	validConfig := validConfig + keyLine
	tests := []struct {
		name    string
		storage string // replaces keyLine
		want    string // in the error; "" for none
	}{
		{"key from env", keyLine, ""},
		{"key from file", "storage:\n  key_file: " + good + "\n", ""},
		{"key from systemd's credentials", "storage:\n  key_file: ${CREDENTIALS_DIRECTORY}/key-0600\n", ""},
		{"key from $BACKSTOP_STORAGE_KEY", "", ""},
		{"env unset", "storage:\n  key_env: NOPE\n", "storage.key_env names the environment variable NOPE, which is empty"},
		{"both", "storage:\n  key_env: STORAGE_KEY\n  key_file: " + good + "\n", "storage.key_env and storage.key_file are both set"},
		{"short key", "storage:\n  key_env: TOKEN\n", "the storage key is 24 bytes; it must be 32 random bytes"},
		{"not base64", "storage:\n  key_env: IMAP_PW\n", "the storage key is not base64"},
		{"missing file", "storage:\n  key_file: " + filepath.Join(dir, "none") + "\n", "storage.key_file cannot be read"},
		{"file readable by others", "storage:\n  key_file: " + open + "\n", "has mode -rw-r--r--: others may read the key"},
		{"audit shorter than evidence", keyLine + "retention:\n  evidence: 2000h\n  audit: 1000h\n", "retention.audit (1000h0m0s) is shorter than retention.evidence"},
	}
	env := func(k string) string {
		switch k {
		case "STORAGE_KEY":
			return testEnv(storageKeyEnv)
		case "CREDENTIALS_DIRECTORY":
			return dir
		}
		return testEnv(k)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig("test.yaml", []byte(strings.Replace(validConfig, keyLine, tt.storage, 1)), env)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if string(cfg.Storage.key) != string(testStorageKey) {
					t.Errorf("key %q, want testStorageKey", cfg.Storage.key)
				}
				if r := cfg.retention(); r.Evidence != 180*24*time.Hour || r.Audit != 3*365*24*time.Hour || r.Quarantine != 30*24*time.Hour {
					t.Errorf("default retention %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConfigNoStorageKey(t *testing.T) {
	env := func(k string) string {
		if k == storageKeyEnv {
			return ""
		}
		return testEnv(k)
	}
	_, err := parseConfig("test.yaml", []byte(validConfig), env)
	for _, want := range []string{"storage.key_file is required (or storage.key_env", "$BACKSTOP_STORAGE_KEY", "openssl rand -base64 32", "backstop keygen"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
}
