package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// Large messages in bounded memory.
//
// A message larger than Config.ChunkSize is never held whole: the caller
// hands it over as Inbound.Spool (a file, say), the desk hashes it and
// stores it in table message_chunks, one sealed chunk per row, and every
// reader (the evidence attachment at dispatch, export, verify) reads it
// back one chunk at a time. Each chunk is sealed with "ID/INDEX/COUNT" in
// its associated data (chunkRef): a chunk moved to another message or
// another place, one dropped or added, or a changed count no longer opens,
// and the whole must still match the SHA-256 recorded with the message.

// DefaultChunkSize is the default of Config.ChunkSize.
const DefaultChunkSize = 1 << 20

// chunkColumn is the sealed column of the chunks.
var chunkColumn = SealedColumn{"message_chunks", "data"}

// sealRefs lists the sealed columns whose associated data names more than
// the row id: the SQL expression of their ref, and how many rows one
// rotation transaction reseals (a chunk is large).
var sealRefs = map[SealedColumn]struct {
	ref   string
	batch int
}{
	chunkColumn: {"message_id || '/' || idx || '/' || (SELECT raw_chunks FROM messages WHERE messages.id = message_chunks.message_id)", 8},
}

// chunkRef is the ref sealed with chunk idx of the count chunks of
// messages row msg.
func chunkRef(msg int64, idx, count int) string {
	b := strconv.AppendInt(nil, msg, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(idx), 10)
	b = append(b, '/')
	return string(strconv.AppendInt(b, int64(count), 10))
}

// hasBody reports whether the message's bytes were read (in memory or
// spooled).
func (in *Inbound) hasBody() bool { return in.Raw != nil || in.Spool != nil }

// body returns a reader of the whole message.
func (in *Inbound) body() *io.SectionReader {
	if in.Raw != nil {
		return io.NewSectionReader(bytes.NewReader(in.Raw), 0, int64(len(in.Raw)))
	}
	if in.Spool != nil {
		return io.NewSectionReader(in.Spool, 0, in.Size)
	}
	return io.NewSectionReader(bytes.NewReader(nil), 0, 0)
}

// bodySize is the size of the message's bytes.
func (in *Inbound) bodySize() int64 {
	if in.Raw != nil {
		return int64(len(in.Raw))
	}
	if in.Spool != nil {
		return in.Size
	}
	return 0
}

// digest returns the hex SHA-256 of the message's bytes: SHA256 when the
// caller computed it while reading, else computed (once) here.
func (in *Inbound) digest() (string, error) {
	if in.SHA256 != "" {
		return in.SHA256, nil
	}
	if in.Raw != nil {
		in.SHA256 = digest(in.Raw)
		return in.SHA256, nil
	}
	if in.Spool == nil {
		return "", nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, in.body()); err != nil {
		return "", fmt.Errorf("reading the spooled message: %w", err)
	}
	in.SHA256 = hex.EncodeToString(h.Sum(nil))
	return in.SHA256, nil
}

// prefix returns up to n bytes from the start of the message.
func (in *Inbound) prefix(n int) []byte {
	if in.Raw != nil {
		return in.Raw[:min(len(in.Raw), n)]
	}
	b := make([]byte, min(int64(n), in.bodySize()))
	k, _ := io.ReadFull(in.body(), b)
	return b[:k]
}

// bodyOffset returns where the body of a message starts: after the first
// CRLF CRLF, or else after the first LF LF, or 0 when it has neither.
// It reads r block by block, as bytes.Cut on the whole would find them.
func bodyOffset(r io.ReaderAt, size int64) (int64, error) {
	const block = 64 << 10
	buf := make([]byte, block+3)
	lflf := int64(-1)
	carry := 0 // bytes of the previous block kept in front of this one
	for off := int64(0); off < size; {
		n := int(min(block, size-off))
		if _, err := r.ReadAt(buf[carry:carry+n], off); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		b := buf[:carry+n]
		start := off - int64(carry) // file offset of b[0]
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			return start + int64(i) + 4, nil
		}
		if lflf < 0 {
			if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
				lflf = start + int64(i) + 2
			}
		}
		off += int64(n)
		carry = min(3, len(b))
		copy(buf, b[len(b)-carry:])
	}
	if lflf >= 0 {
		return lflf, nil
	}
	return 0, nil
}

// storeChunks writes the message in hand as the chunks of messages row
// id, one chunk in memory at a time, and returns their count.
func (h *handling) storeChunks(id int64, count int) error {
	size := h.d.cfg.ChunkSize
	r := h.in.body()
	buf := make([]byte, size)
	for i := range count {
		n, err := io.ReadFull(r, buf)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("reading the spooled message: %w", err)
		}
		sealed := h.d.st.sealRef(chunkColumn.Table, chunkColumn.Column, chunkRef(id, i, count), buf[:n])
		if _, err := h.tx.ExecContext(h.ctx, "INSERT INTO message_chunks (message_id, idx, data) VALUES (?, ?, ?)", id, i, sealed); err != nil {
			return fmt.Errorf("recording the message (chunk %d of %d): %w", i+1, count, err)
		}
	}
	return nil
}

// chunkCount is how many chunks of size hold n bytes.
func chunkCount(n int64, size int) int {
	return int((n + int64(size) - 1) / int64(size))
}

// StoredRaw is a stored message opened for reading.
type StoredRaw struct {
	io.ReadCloser
	Size int64 // in bytes
}

// OpenRaw returns the raw message of messages row id as it was received,
// read one chunk at a time for a large one; nil, nil when none is kept
// (not kept for its class, or purged). Reading fails, rather than return
// different bytes, when a chunk was altered, moved or dropped, the count
// was changed, or the whole does not match its recorded SHA-256; a chunk
// added past the count is never read (Verify reports it). ctx bounds
// every read.
func (s *Store) OpenRaw(ctx context.Context, id int64) (*StoredRaw, error) {
	if err := s.keys.load(ctx, s.db); err != nil {
		return nil, err
	}
	return s.openRaw(ctx, s.db, id)
}

// openRaw is OpenRaw reading through q.
func (s *Store) openRaw(ctx context.Context, q querier, id int64) (*StoredRaw, error) {
	var raw []byte
	var chunks int
	var size int64
	var sum string
	err := q.QueryRowContext(ctx, "SELECT raw, raw_chunks, size, sha256 FROM messages WHERE id = ?", id).Scan(&raw, &chunks, &size, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading message row %d: %w", id, err)
	}
	if raw != nil {
		if raw, err = s.open("messages", "raw", id, raw); err != nil {
			return nil, err
		}
		return &StoredRaw{io.NopCloser(bytes.NewReader(raw)), int64(len(raw))}, nil
	}
	if chunks == 0 {
		return nil, nil
	}
	return &StoredRaw{&chunkReader{ctx: ctx, s: s, q: q, msg: id, count: chunks, sum: sha256.New(), want: sum}, size}, nil
}

// chunkReader reads the chunks of one message in order, each with a query
// of its own: nothing holds the store's connection between reads.
type chunkReader struct {
	ctx   context.Context
	s     *Store
	q     querier
	msg   int64
	count int
	next  int
	buf   []byte
	sum   hash.Hash
	want  string // the recorded SHA-256; "" when none
	err   error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == r.count {
			if got := hex.EncodeToString(r.sum.Sum(nil)); r.want != "" && got != r.want {
				r.err = fmt.Errorf("store: message row %d does not match its recorded SHA-256 %s: the database was altered", r.msg, r.want)
				return 0, r.err
			}
			r.err = io.EOF
			return 0, io.EOF
		}
		r.buf, r.err = r.s.readChunk(r.ctx, r.q, r.msg, r.next, r.count)
		if r.err != nil {
			return 0, r.err
		}
		r.sum.Write(r.buf)
		r.next++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close implements io.Closer.
func (r *chunkReader) Close() error {
	r.buf, r.err = nil, errors.New("store: read after Close")
	return nil
}

// readChunk reads and opens chunk idx of the count chunks of message row
// msg.
func (s *Store) readChunk(ctx context.Context, q querier, msg int64, idx, count int) ([]byte, error) {
	var v []byte
	err := q.QueryRowContext(ctx, "SELECT data FROM message_chunks WHERE message_id = ? AND idx = ?", msg, idx).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: chunk %d of %d of message row %d is missing: the database was altered", idx+1, count, msg)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading chunk %d of message row %d: %w", idx+1, msg, err)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("store: chunk %d of %d of message row %d is empty: the database was altered", idx+1, count, msg)
	}
	return s.openRef(chunkColumn.Table, chunkColumn.Column, chunkRef(msg, idx, count), v)
}
