package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// Large messages are not held in memory: a body larger than
// IMAPConfig.SpoolAbove is streamed from the IMAP literal into a
// temporary file, hashed as it passes, and handed to the handler as
// Delivery.Spool. The file is created with mode 0600 and removed from
// the directory at once, so that it is gone when it is closed (once the
// handler returned) and even when the process dies: abusive content is
// never left on disk outside the database.

// DefaultSpoolAbove is the default of IMAPConfig.SpoolAbove.
const DefaultSpoolAbove = 1 << 20

// body is one message body read from the server: in memory, or spooled.
type body struct {
	raw   []byte
	spool *os.File
	sum   string // hex SHA-256 of a spooled body
	size  int64
}

// into sets d's body fields.
func (b *body) into(d *Delivery) {
	d.Size = b.size
	if b.spool != nil {
		d.Spool, d.SHA256, d.spool = b.spool, b.sum, b.spool
		return
	}
	d.Raw = b.raw
}

// close closes a spooled body's file, which removes it.
func (b *body) close() {
	if b != nil && b.spool != nil {
		b.spool.Close()
	}
}

// spool copies exactly size bytes of r into a new unlinked temporary file
// in dir, hashing them. n is how many bytes were read: fewer than size,
// without a *spoolError, is a cut connection, for the caller to report.
func spool(dir string, r io.Reader, size int64) (b *body, n int64, err error) {
	f, err := os.CreateTemp(dir, "backstop-spool-*")
	if err != nil {
		return nil, 0, &spoolError{err}
	}
	// Unlinked at once: the open file is all there is (POSIX).
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, 0, &spoolError{err}
	}
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(spoolWriter{f}, h), io.LimitReader(r, size))
	if err == nil && n == size {
		return &body{spool: f, sum: hex.EncodeToString(h.Sum(nil)), size: size}, n, nil
	}
	f.Close()
	return nil, n, err
}

// spoolWriter marks the errors of writing the spool file, so that a full
// disk is not taken for a cut connection.
type spoolWriter struct{ f *os.File }

func (w spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &spoolError{err}
	}
	return n, err
}

// spoolError is a failure to create or write a spool file.
type spoolError struct{ err error }

func (e *spoolError) Error() string {
	return fmt.Sprintf("%v (the spool directory must be writable, with room for the message)", e.err)
}

func (e *spoolError) Unwrap() error { return e.err }

// Body returns the whole message, from Raw or Spool, as a reader of Size
// bytes; each call returns a reader of its own.
func (d *Delivery) Body() *io.SectionReader {
	if d.Spool != nil {
		return io.NewSectionReader(d.Spool, 0, d.Size)
	}
	return io.NewSectionReader(bytes.NewReader(d.Raw), 0, int64(len(d.Raw)))
}

// release closes the spool file of a handled delivery.
func (d *Delivery) release() {
	if d.spool != nil {
		d.spool.Close()
	}
}
