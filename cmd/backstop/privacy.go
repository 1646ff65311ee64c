package main

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"backstop/workflow"
)

// runKeygen prints a new storage key.
func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keygen", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, workflow.NewKey())
	return nil
}

// runRotateKey re-encrypts every value under a new data key, one
// transaction at a time, while serve goes on; run again, it finishes an
// interrupted rotation.
func runRotateKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rotate-key", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	newKeyFile := fs.String("new-key-file", "", "also change the storage key to the one in `file`: when done, only it opens the database")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var newKey []byte
	if *newKeyFile != "" {
		b, err := os.ReadFile(*newKeyFile)
		if err != nil {
			return fmt.Errorf("-new-key-file: %w", err)
		}
		if newKey, err = workflow.ParseKey(string(b)); err != nil {
			return fmt.Errorf("-new-key-file %s: %w", *newKeyFile, err)
		}
	}
	_, st, err := loadStore(ctx, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	rs, err := st.RotateKey(ctx, newKey)
	if err != nil {
		return fmt.Errorf("%w (run `backstop rotate-key` again to finish it)", err)
	}
	if rs.Resumed {
		fmt.Fprintf(stdout, "finished an interrupted rotation: ")
	}
	fmt.Fprintf(stdout, "%d values re-encrypted under data key %s; %d old key entries removed\n", rs.Resealed, rs.Key, rs.Old)
	if newKey != nil {
		fmt.Fprintf(stdout, "the database now opens only with storage key %s (%s): point storage.key_file/key_env at it and restart serve\n", workflow.KeyID(newKey), *newKeyFile)
	}
	return st.Compact(ctx)
}

// runVerify checks the audit trail's hash chains and the evidence hashes.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("verify", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, st, err := loadStore(ctx, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := st.Verify(ctx, 0, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked %d events in %d chains, %d stored originals, %d evidence texts\n", rep.Events, rep.Chains, rep.Messages, rep.Evidence)
	if !rep.OK() {
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "BROKEN: %s\n", p)
		}
		return fmt.Errorf("the record was altered: first broken link: %s", rep.Problems[0])
	}
	chains := make([]int64, 0, len(rep.Heads))
	for c := range rep.Heads {
		chains = append(chains, c)
	}
	sort.Slice(chains, func(i, j int) bool { return chains[i] < chains[j] })
	for _, c := range chains {
		name := "no incident"
		if c != 0 {
			name = workflow.Ref(c)
		}
		fmt.Fprintf(stdout, "head %-12s %s\n", name, rep.Heads[c])
	}
	fmt.Fprintln(stdout, "OK: the audit trail is intact")
	return nil
}

// runPurge applies the retention section now.
func runPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("purge", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	dry := fs.Bool("dry-run", false, "only say what would be purged")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, st, err := loadStore(ctx, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := st.Purge(ctx, cfg.retention(), time.Now(), *dry)
	if err != nil {
		return err
	}
	verb := "purged"
	if *dry {
		verb = "would purge"
	}
	fmt.Fprintf(stdout, "%s: evidence of %s (retention.evidence %s); incidents removed: %s (retention.audit %s); %d quarantined messages (retention.quarantine %s); %d old events about no incident\n",
		verb, refs(rep.Evidence), time.Duration(cfg.Retention.Evidence), refs(rep.Audit), time.Duration(cfg.Retention.Audit),
		rep.Quarantined, time.Duration(cfg.Retention.Quarantine), rep.OldEvents)
	return nil
}

// runExport writes an incident for HR or legal.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("export", stderr)
	path := fs.String("config", "backstop.yaml", "configuration `file`")
	out := fs.String("out", "", "the zip `file` to write (created 0600; must not exist)")
	words, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 || *out == "" {
		return usageError{"expected INC-n and -out FILE.zip"}
	}
	id, err := parseIncidentID(words[0])
	if err != nil {
		return err
	}
	_, st, err := loadStore(ctx, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	manifest, err := exportIncident(ctx, st, id, *out)
	if err != nil {
		return err
	}
	actor := "operator"
	if u, err := user.Current(); err == nil {
		actor = "operator " + u.Username
	}
	if h, err := os.Hostname(); err == nil {
		actor += "@" + h
	}
	if err := st.AppendEvent(ctx, id, actor, workflow.EventExported, fmt.Sprintf("exported to %s (manifest SHA-256 %s)", filepath.Base(*out), manifest)); err != nil {
		os.Remove(*out)
		return fmt.Errorf("recording the export in the audit trail (the export was removed): %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (mode 0600): %s; manifest SHA-256 %s\n", *out, workflow.Ref(id), manifest)
	return nil
}

// exportEvent is an audit trail entry as the export's JSON holds it.
type exportEvent struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Kind      string    `json:"kind"`
	Detail    string    `json:"detail"`
	MessageID string    `json:"message_id,omitempty"`
	PrevHash  string    `json:"prev_hash"`
	Hash      string    `json:"hash"`
}

// exportIncident writes the zip and returns the SHA-256 of its manifest.
// The file is written under a temporary name (mode 0600) and linked to
// out, which must not exist.
func exportIncident(ctx context.Context, st *workflow.Store, id int64, out string) (string, error) {
	if _, err := os.Stat(out); err == nil {
		return "", fmt.Errorf("%s exists: choose another -out file (an export never overwrites)", out)
	}
	inc, events, err := st.Incident(ctx, id)
	if err != nil {
		return "", err
	}
	msgs, err := st.Messages(ctx, id)
	if err != nil {
		return "", err
	}
	rows, err := st.Outbox(ctx, id)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".backstop-export-*") // 0600
	if err != nil {
		return "", fmt.Errorf("creating the export: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	zw := zip.NewWriter(tmp)
	var sums []string
	add := func(name string, data []byte) error {
		w, err := zw.Create(name)
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		h := sha256.Sum256(data)
		sums = append(sums, hex.EncodeToString(h[:])+"  "+name)
		return nil
	}
	var notes []string
	for _, m := range msgs {
		if m.Raw == nil {
			notes = append(notes, fmt.Sprintf("message #%d (%s, %s): not kept or purged by retention; its SHA-256 was %s", m.ID, m.Class, m.MessageID, orDash(m.SHA256)))
			continue
		}
		if err := add(fmt.Sprintf("received/%04d-%s.eml", m.ID, m.Class), m.Raw); err != nil {
			return "", err
		}
		if m.SHA256 != "" {
			if h := sha256.Sum256(m.Raw); hex.EncodeToString(h[:]) != m.SHA256 {
				notes = append(notes, fmt.Sprintf("message #%d does NOT match its SHA-256 recorded on arrival (%s)", m.ID, m.SHA256))
			}
		}
		if len(m.AuthResults) > 0 {
			notes = append(notes, fmt.Sprintf("message #%d arrived with Authentication-Results: %s", m.ID, strings.Join(m.AuthResults, " | ")))
		}
	}
	for _, r := range rows {
		switch r.State {
		case workflow.OutSent, workflow.OutBounced, workflow.OutUncertain:
		default:
			continue // never sent
		}
		m, err := st.Mail(ctx, r.ID)
		if err != nil {
			notes = append(notes, fmt.Sprintf("sent email #%d (%s to %s): %v", r.ID, r.Template, r.Recipient, err))
			continue
		}
		raw, err := compose(m)
		if err != nil {
			return "", fmt.Errorf("composing sent email #%d: %w", r.ID, err)
		}
		if err := add(fmt.Sprintf("sent/%04d-%s.eml", r.ID, r.Template), raw); err != nil {
			return "", err
		}
	}
	evs := make([]exportEvent, 0, len(events))
	var text strings.Builder
	fmt.Fprintf(&text, "Audit trail of %s (%s), customer %s, exported %s\n", inc.Ref(), inc.State, orDash(inc.Customer.Address), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&text, "Each event's hash is SHA-256 over the previous hash and its content; `backstop verify` checks them.\n\n")
	for _, e := range events {
		evs = append(evs, exportEvent{e.ID, e.At.UTC(), e.Actor, e.Kind, e.Detail, e.MessageID, e.PrevHash, e.Hash})
		fmt.Fprintf(&text, "#%d  %s  %s  %s\n    %s\n    prev %s\n    hash %s\n", e.ID, e.At.UTC().Format(time.RFC3339), e.Actor, e.Kind, e.Detail, orDash(e.PrevHash), e.Hash)
	}
	js, _ := json.MarshalIndent(map[string]any{"incident": inc.Ref(), "state": inc.State, "customer": inc.Customer.Address, "events": evs, "notes": notes}, "", "  ")
	if err := add("audit.json", js); err != nil {
		return "", err
	}
	if len(notes) > 0 {
		text.WriteString("\nNotes:\n")
		for _, n := range notes {
			text.WriteString("  - " + n + "\n")
		}
	}
	if err := add("audit.txt", []byte(text.String())); err != nil {
		return "", err
	}
	manifest := []byte(strings.Join(sums, "\n") + "\n")
	if err := add("SHA256SUMS", manifest); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// A link, not a rename: it fails when out appeared meanwhile, where a
	// rename would replace it.
	if err := os.Link(tmp.Name(), out); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("%s exists: choose another -out file (an export never overwrites)", out)
		}
		return "", fmt.Errorf("writing %s: %w", out, err)
	}
	h := sha256.Sum256(manifest)
	return hex.EncodeToString(h[:]), nil
}

// loadStore reads the configuration file at path and opens its database,
// for the subcommands that work on the store alone.
func loadStore(ctx context.Context, path string) (*Config, *workflow.Store, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := openExistingStore(ctx, cfg.Storage.Path, cfg.Storage.key)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}
