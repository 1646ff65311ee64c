package workflow

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// largeForward is a forward whose raw message is about size bytes,
// handed over spooled (Raw nil) when spooled is set.
func (e *env) largeForward(size int, spooled bool) (*Inbound, []byte) {
	e.t.Helper()
	in := e.forward(alex, abuse(jordan, "Refund", "You are useless.", e.clk.Now().Add(-time.Hour)))
	var b bytes.Buffer
	b.Write(in.Raw)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "line %d of the attached recording, base64: QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n", i)
	}
	raw := b.Bytes()
	in.Size = int64(len(raw))
	if spooled {
		in.Raw, in.Spool = nil, bytes.NewReader(raw)
	} else {
		in.Raw = raw
	}
	return in, raw
}

func readAll(t *testing.T, r io.ReadCloser, err error) []byte {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChunkedMessage stores a large forward in chunks, from memory and
// spooled, and reads it back byte for byte: the stored raw, the export,
// the lead notice's attachment; verify finds it intact.
func TestChunkedMessage(t *testing.T) {
	ctx := context.Background()
	for _, spooled := range []bool{false, true} {
		t.Run(fmt.Sprintf("spooled=%v", spooled), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ChunkSize = 1000 })
			in, raw := e.largeForward(10500, spooled)
			e.handle(in, Processed)

			if n := e.count("SELECT raw_chunks FROM messages WHERE id = 1 AND raw IS NULL"); n != 11 {
				t.Fatalf("raw_chunks = %d, want 11", n)
			}
			if n := e.count("SELECT count(*) FROM message_chunks WHERE message_id = 1"); n != 11 {
				t.Fatalf("%d chunk rows, want 11", n)
			}
			r, err := e.st.OpenRaw(ctx, 1)
			if got := readAll(t, r, err); !bytes.Equal(got, raw) {
				t.Fatalf("OpenRaw: %d bytes, differ from the %d received", len(got), len(raw))
			}
			if r.Size != int64(len(raw)) {
				t.Errorf("OpenRaw size %d, want %d", r.Size, len(raw))
			}
			msgs, err := e.st.Messages(ctx, 1)
			if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0].Raw, raw) || msgs[0].SHA256 != digest(raw) {
				t.Fatalf("Messages: %v, %d messages", err, len(msgs))
			}
			var notice *OutMail
			for _, row := range e.outbox() {
				if m := e.mail(row.ID); len(m.Attachments) > 0 {
					notice = m
				}
			}
			if notice == nil {
				t.Fatal("no email carries the evidence")
			}
			a := notice.Attachments[0]
			if a.Data != nil || a.Open == nil || a.Size != int64(len(raw)) {
				t.Fatalf("attachment %q: Data %d bytes, Open %v, Size %d; want streamed", a.Filename, len(a.Data), a.Open != nil, a.Size)
			}
			for range 2 { // Open may be called again (a retried send)
				r, err := a.Open(ctx)
				if got := readAll(t, r, err); !bytes.Equal(got, raw) {
					t.Fatalf("attachment: %d bytes, differ from the %d received", len(got), len(raw))
				}
			}
			rep, err := e.st.Verify(ctx, 0, true)
			if err != nil || !rep.OK() || rep.Messages != 1 {
				t.Fatalf("Verify: %v %v (%d messages)", err, rep.Problems, rep.Messages)
			}
			if e.countEvents("incident_id = 1", EventReported, shaMark+digest(raw)) != 1 {
				t.Error("the trail does not record the message's SHA-256")
			}
			// The same message again (a redelivery) is a duplicate.
			again := *in
			again.UID = 99
			if spooled {
				again.Spool = bytes.NewReader(raw)
				again.SHA256 = ""
			}
			e.handle(&again, Processed)
			if n := e.count("SELECT count(*) FROM messages"); n != 1 {
				t.Errorf("%d messages rows after a redelivery, want 1", n)
			}
		})
	}
}

// TestSpooledDedupeKey: a spooled message gets the dedupe key the same
// bytes in memory get (the body read from where bytes.Cut finds it).
func TestSpooledDedupeKey(t *testing.T) {
	for _, raw := range []string{
		"From: a@b\r\n\r\nbody\r\n",
		"From: a@b\n\nbody\n",
		"From: a@b\nX: y\r\n\r\nbody\n\nmore",
		"no header end at all",
		"",
		"From: a@b\r\n\r\n",
		strings.Repeat("X-Long: "+strings.Repeat("h", 100)+"\r\n", 2000) + "\r\nthe body",
		strings.Repeat("x", 64<<10-2) + "\r\n\r\nbody across the block boundary",
		strings.Repeat("x", 64<<10-1) + "\n\nbody across the block boundary",
	} {
		mem := &Inbound{Raw: []byte(raw), From: alex, Subject: "s"}
		spool := &Inbound{Spool: strings.NewReader(raw), Size: int64(len(raw)), From: alex, Subject: "s"}
		if a, b := contentDigest(mem), contentDigest(spool); a != b {
			t.Errorf("%.40q…: spooled %s, in memory %s", raw, b, a)
		}
		if a, b := dedupeKey(mem), dedupeKey(spool); a != b {
			t.Errorf("%.40q…: dedupe key spooled %s, in memory %s", raw, b, a)
		}
	}
}

// TestChunkTampering: a chunk swapped, dropped, truncated, added or moved
// to another message, or a changed count, is found by verify; reading
// fails rather than return altered bytes.
func TestChunkTampering(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper string
		want   string
	}{
		{"chunks swapped", "UPDATE message_chunks SET idx = 100 WHERE message_id = 1 AND idx = 1; UPDATE message_chunks SET idx = 1 WHERE message_id = 1 AND idx = 2; UPDATE message_chunks SET idx = 2 WHERE message_id = 1 AND idx = 100", "messages row #1: raw does not read back"},
		{"chunk dropped", "DELETE FROM message_chunks WHERE message_id = 1 AND idx = 3", "messages row #1: raw is stored in 10 chunks, but 11 were recorded"},
		{"last chunk dropped, count lowered", "DELETE FROM message_chunks WHERE message_id = 1 AND idx = 10; UPDATE messages SET raw_chunks = 10 WHERE id = 1", "messages row #1: raw does not read back"},
		{"chunk truncated", "UPDATE message_chunks SET data = substr(data, 1, length(data) - 10) WHERE message_id = 1 AND idx = 4", "messages row #1: raw does not read back"},
		{"chunk added", "INSERT INTO message_chunks (message_id, idx, data) SELECT message_id, 11, data FROM message_chunks WHERE message_id = 1 AND idx = 10", "messages row #1: raw is stored in 12 chunks, but 11 were recorded"},
		{"chunk from another message", "UPDATE message_chunks SET data = (SELECT data FROM message_chunks WHERE message_id = 2 AND idx = 0) WHERE message_id = 1 AND idx = 0", "messages row #1: raw does not read back"},
		{"count zeroed, chunks kept", "DROP TRIGGER message_chunks_purge; UPDATE messages SET raw_chunks = 0 WHERE id = 1", "messages row #1: 11 chunks of raw are stored for a message recorded without them"},
		{"hash changed", "UPDATE messages SET sha256 = 'ff' WHERE id = 1", "messages row #1: raw does not match its recorded SHA-256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ChunkSize = 1000 })
			in, raw := e.largeForward(10500, true)
			e.handle(in, Processed)
			other, _ := e.largeForward(3000, true)
			other.From, other.Originals[0].From = omar, casey
			e.handle(other, Processed)
			if rep, err := e.st.Verify(ctx, 0, true); err != nil || !rep.OK() {
				t.Fatalf("Verify before tampering: %v %v", err, rep.Problems)
			}
			if _, err := e.st.db.Exec(tt.tamper); err != nil {
				t.Fatal(err)
			}
			rep, err := e.st.Verify(ctx, 0, true)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || !strings.Contains(rep.Problems[0].String(), tt.want) {
				t.Fatalf("problems %v, want first %q", rep.Problems, tt.want)
			}
			r, err := e.st.OpenRaw(ctx, 1)
			var got []byte
			if err == nil && r != nil {
				got, err = io.ReadAll(r)
			}
			if err == nil && r != nil && !bytes.Equal(got, raw) {
				t.Error("OpenRaw returned altered bytes without an error")
			}
		})
	}
}

// TestChunksRetentionAndRotation: a key rotation reseals the chunks (they
// still read back), and a purge removes them.
func TestChunksRetentionAndRotation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.ChunkSize = 1000 })
	in, raw := e.largeForward(30000, true)
	e.handle(in, Processed)
	defer func(n int) { batchSize = n }(batchSize)
	batchSize = 5
	st, err := e.st.RotateKey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sealedUnder(t, e.st); len(got) != 1 || got[st.Key] == 0 {
		t.Fatalf("after rotation, values by data key: %v, want all under %s", got, st.Key)
	}
	r, err := e.st.OpenRaw(ctx, 1)
	if got := readAll(t, r, err); !bytes.Equal(got, raw) {
		t.Fatal("after rotation the message does not read back")
	}
	if rep, err := e.st.Verify(ctx, 0, true); err != nil || !rep.OK() {
		t.Fatalf("Verify after rotation: %v %v", err, rep.Problems)
	}
	tx, err := e.st.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.purgeEvidence(ctx, tx, 1, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := e.count("SELECT count(*) FROM message_chunks"); n != 0 {
		t.Errorf("%d chunks left after the purge", n)
	}
	if r, err := e.st.OpenRaw(ctx, 1); r != nil || err != nil {
		t.Errorf("OpenRaw after the purge: %v, %v; want nothing", r, err)
	}
	if rep, err := e.st.Verify(ctx, 0, true); err != nil || !rep.OK() {
		t.Fatalf("Verify after the purge: %v %v", err, rep.Problems)
	}
}

// TestChunksGoWithTheirIncident: removing an incident under
// retention.audit removes its messages and their chunks with them.
func TestChunksGoWithTheirIncident(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.ChunkSize = 1000 })
	in, _ := e.largeForward(5000, true)
	e.handle(in, Processed)
	if n := e.count("SELECT count(*) FROM message_chunks"); n == 0 {
		t.Fatal("no chunks stored")
	}
	if err := e.st.tx(ctx, func(tx *sql.Tx) error { return e.st.purgeIncident(ctx, tx, 1, e.clk.Now()) }); err != nil {
		t.Fatal(err)
	}
	if n := e.count("SELECT count(*) FROM message_chunks"); n != 0 {
		t.Errorf("%d chunks left after their incident was removed", n)
	}
	if rep, err := e.st.Verify(ctx, 0, true); err != nil || !rep.OK() {
		t.Fatalf("Verify after the removal: %v %v", err, rep.Problems)
	}
}

// failingSpool is a spool whose disk fails after the first n bytes.
type failingSpool struct {
	r io.ReaderAt
	n int64
}

func (f failingSpool) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.n {
		return 0, fmt.Errorf("injected read error at offset %d", off)
	}
	return f.r.ReadAt(p, off)
}

// TestUnreadableSpool: a spooled message that cannot be read is not
// recorded, nor taken for a duplicate of an earlier message with its
// Message-ID and header fields but an empty body (its dedupe key would be
// made of those alone): it is offered again and recorded once its spool
// reads.
func TestUnreadableSpool(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *Config) { c.ChunkSize = 1000 })
	in, raw := e.largeForward(5000, true)
	empty := *in
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	empty.Raw, empty.Spool, empty.Size, empty.UID = append(head, "\r\n\r\n"...), nil, 0, in.UID+100
	e.handle(&empty, Processed)
	in.Spool = failingSpool{bytes.NewReader(raw), 100}
	if _, err := e.desk.Handle(ctx, in); err == nil {
		t.Fatal("Handle succeeded on a message whose spool could not be read")
	}
	if n := e.count("SELECT count(*) FROM messages"); n != 1 {
		t.Fatalf("%d messages rows after a failed read, want 1 (the earlier one)", n)
	}
	in.Spool, in.SHA256 = bytes.NewReader(raw), ""
	e.handle(in, Processed)
	r, err := e.st.OpenRaw(ctx, 2)
	if got := readAll(t, r, err); !bytes.Equal(got, raw) {
		t.Fatal("the message offered again does not read back")
	}
}

// TestUnreadableSpoolDigest: a spool that fails while its content digest
// is made gets a digest unlike an empty body's, and it is not kept: the
// next reading makes the right one.
func TestUnreadableSpoolDigest(t *testing.T) {
	raw := "From: a@b\r\n\r\n" + strings.Repeat("body ", 100)
	empty := &Inbound{Raw: []byte("From: a@b\r\n\r\n"), From: alex, Subject: "s"}
	good := &Inbound{Spool: strings.NewReader(raw), Size: int64(len(raw)), From: alex, Subject: "s"}
	in := &Inbound{Spool: failingSpool{strings.NewReader(raw), 10}, Size: int64(len(raw)), From: alex, Subject: "s"}
	if got := contentDigest(in); got == contentDigest(empty) {
		t.Errorf("an unreadable spool has the digest of an empty body: %s", got)
	}
	in.Spool = good.Spool
	if got, want := contentDigest(in), contentDigest(good); got != want {
		t.Errorf("after the spool reads again: %s, want %s", got, want)
	}
}
