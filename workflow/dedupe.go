package workflow

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A message is a duplicate only when it is the same message: the same
// mailbox UID, or the same Message-ID and the same content. A different
// message that carries a Message-ID already seen — an outsider who sent it
// first, or two forwards that share one — is processed like any other, and
// the collision is recorded in the audit trail.

// EventMessageIDCollision records a message whose Message-ID an earlier,
// different message carried.
const EventMessageIDCollision = "message_id_collision"

// contentDigest is a digest of what identifies a message's content: its
// From, Subject, Date and body (everything below the header, where the
// receiving server adds nothing).
func contentDigest(in *Inbound) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00", lower(in.From.Address), in.Subject, in.Date.Unix())
	if in.Raw == nil && in.Spool != nil {
		// A spooled message is read from where its body starts, as
		// bytes.Cut finds it below, once: Handle asks several times.
		if in.spoolDigest == "" {
			r := in.body()
			off, err := bodyOffset(r, r.Size())
			if err == nil {
				_, err = io.Copy(h, io.NewSectionReader(r, off, r.Size()-off))
			}
			if err != nil {
				// Not kept, and unlike any key of a message that was
				// read: never taken for a duplicate. (Handle fails on
				// a spool it cannot read: in.digest.)
				return "unread:" + hex.EncodeToString(h.Sum(nil)[:16])
			}
			in.spoolDigest = "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
		}
		return in.spoolDigest
	}
	body := in.Raw
	if _, b, ok := bytes.Cut(in.Raw, []byte("\r\n\r\n")); ok {
		body = b
	} else if _, b, ok := bytes.Cut(in.Raw, []byte("\n\n")); ok {
		body = b
	}
	h.Write(body)
	return "sha256:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// collisions looks for an earlier message with the same Message-ID but
// another content; recordCollision then records it.
func (h *handling) collisions() error {
	id := strings.Trim(strings.TrimSpace(h.in.MessageID), "<>")
	if id == "" {
		return nil
	}
	err := h.tx.QueryRowContext(h.ctx, `SELECT id FROM messages WHERE message_id IN (?, ?) AND dedupe_key != ? ORDER BY id LIMIT 1`,
		id, "<"+id+">", dedupeKey(h.in)).Scan(&h.earlier)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking for an earlier Message-ID: %w", err)
	}
	return nil
}

func (h *handling) recordCollision() error {
	if h.earlier == 0 {
		return nil
	}
	return h.event(h.incident, EventMessageIDCollision, fmt.Sprintf(
		"an earlier, different message (row %d) carried the same Message-ID; this one was processed on its own", h.earlier))
}
