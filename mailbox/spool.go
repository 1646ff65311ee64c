package mailbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
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
// handler returned) and even when the process dies. Its bytes are
// encrypted (AES-256-CTR) under a key made for that file and kept only in
// memory: the blocks an unlinked file leaves on the disk, or a copy taken
// while it is open, hold no readable abusive content, which stays
// encrypted at rest in the database alone.

// DefaultSpoolAbove is the default of IMAPConfig.SpoolAbove.
const DefaultSpoolAbove = 1 << 20

// body is one message body read from the server: in memory, or spooled.
type body struct {
	raw    []byte
	sealed *sealedFile // the spool file, read decrypting; nil when raw
	sum    string      // hex SHA-256 of a spooled body
	size   int64
}

// into sets d's body fields.
func (b *body) into(d *Delivery) {
	d.Size = b.size
	if b.sealed != nil {
		d.Spool, d.SHA256, d.spool = b.sealed, b.sum, b.sealed
		return
	}
	d.Raw = b.raw
}

// close closes a spooled body's file, which removes it.
func (b *body) close() {
	if b != nil && b.sealed != nil {
		b.sealed.f.Close()
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
	sf, err := newSealedFile(f)
	if err != nil {
		f.Close()
		return nil, 0, &spoolError{err}
	}
	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(sf.writer(), h), io.LimitReader(r, size))
	if err == nil && n == size {
		return &body{sealed: sf, sum: hex.EncodeToString(h.Sum(nil)), size: size}, n, nil
	}
	f.Close()
	return nil, n, err
}

// sealedFile is a spool file whose bytes are encrypted with AES-256 in
// counter mode (NIST SP 800-38A section 6.5) under a random key of its
// own: counter mode lets any offset be read back alone (ReadAt).
// Integrity is not its job: the message's SHA-256 was taken from the bytes
// as they came from the server.
type sealedFile struct {
	f     *os.File
	block cipher.Block
	iv    [aes.BlockSize]byte
}

func newSealedFile(f *os.File) (*sealedFile, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	sf := &sealedFile{f: f, block: block}
	if _, err := rand.Read(sf.iv[:]); err != nil {
		return nil, err
	}
	return sf, nil
}

// writer encrypts what is written to the file from its start on; its
// write errors are *spoolError, so that a full disk is not taken for a
// cut connection.
func (sf *sealedFile) writer() io.Writer {
	return &spoolWriter{f: sf.f, ctr: cipher.NewCTR(sf.block, sf.iv[:])}
}

// ReadAt implements io.ReaderAt, decrypting.
func (sf *sealedFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := sf.f.ReadAt(p, off)
	if n > 0 {
		sf.keystreamAt(off).XORKeyStream(p[:n], p[:n])
	}
	return n, err
}

// keystreamAt returns the counter-mode stream positioned at byte off.
func (sf *sealedFile) keystreamAt(off int64) cipher.Stream {
	// The counter is the whole block, a 128-bit big-endian number (as
	// crypto/cipher's CTR increments it): add off's block number to it.
	hi, lo := binary.BigEndian.Uint64(sf.iv[:8]), binary.BigEndian.Uint64(sf.iv[8:])
	add := uint64(off / aes.BlockSize)
	if lo+add < lo {
		hi++
	}
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[:8], hi)
	binary.BigEndian.PutUint64(iv[8:], lo+add)
	s := cipher.NewCTR(sf.block, iv[:])
	if skip := off % aes.BlockSize; skip > 0 {
		var scratch [aes.BlockSize]byte
		s.XORKeyStream(scratch[:skip], scratch[:skip])
	}
	return s
}

// spoolWriter encrypts and writes the spool file, marking its errors.
type spoolWriter struct {
	f   *os.File
	ctr cipher.Stream
	buf []byte
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if cap(w.buf) < len(p) {
		w.buf = make([]byte, len(p))
	}
	out := w.buf[:len(p)]
	w.ctr.XORKeyStream(out, p)
	n, err := w.f.Write(out)
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
		d.spool.f.Close()
	}
}
