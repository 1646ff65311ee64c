package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// spoolInfo is what a spooled delivery's file was like while the handler
// had it.
type spoolInfo struct {
	file       *os.File
	mode       os.FileMode
	links      uint64 // 0: removed from its directory
	sumOK      bool   // Delivery.SHA256 is the SHA-256 of the bytes read
	size       int64
	dirEntries int // in the spool directory, -1 when unknown
}

func spoolSeen(d *Delivery, raw []byte) spoolInfo {
	in := spoolInfo{file: d.spool.f, dirEntries: -1}
	if fi, err := d.spool.f.Stat(); err == nil {
		in.mode = fi.Mode().Perm()
		in.size = fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			in.links = uint64(st.Nlink)
		}
		if es, err := os.ReadDir(dirOf(d.spool.f.Name())); err == nil {
			in.dirEntries = len(es)
		}
	}
	sum := sha256.Sum256(raw)
	in.sumOK = d.SHA256 == hex.EncodeToString(sum[:])
	return in
}

func dirOf(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[:i]
		}
	}
	return "."
}

// TestWatchSpool: messages above SpoolAbove reach the handler from a
// spool file, byte for byte as the server holds them, alone and in a
// window; the file is mode 0600, already gone from the directory, hashed,
// and closed once the handler returned. Below the threshold Raw is used.
func TestWatchSpool(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		cfg, _ := watchConfig(t, srv, srv.addr)
		cfg.SpoolDir = t.TempDir()
		cfg.SpoolAbove = 64 << 10
		msgs := map[string][]byte{
			"small":   watchMessage("small", 1000),
			"large-1": watchMessage("large-1", 200<<10),
			"large-2": watchMessage("large-2", 3<<20),
			"large-3": watchMessage("large-3", 100<<10),
		}
		order := []string{"small", "large-1", "large-2", "large-3"}
		for _, id := range order {
			srv.Append("INBOX", msgs[id])
		}
		startWatcher(t, cfg, st)
		for _, id := range order {
			st.waitProcessed(t, id)
		}
		st.checkOnce(t, order...)

		for _, c := range st.snapshot() {
			id := watchMessageID(c.Raw)
			if !bytes.Equal(c.Raw, msgs[id]) {
				t.Errorf("%s: delivered %d bytes, differ from the %d the server holds", id, len(c.Raw), len(msgs[id]))
			}
			if spooled := c.Spool != nil; spooled != (len(msgs[id]) > 64<<10) || c.Size != int64(len(msgs[id])) {
				t.Errorf("%s (%d bytes): spooled %v, Size %d; want spooled above 64 KiB", id, len(msgs[id]), spooled, c.Size)
			}
		}
		st.mu.Lock()
		spools := st.spools
		st.mu.Unlock()
		if len(spools) != 3 {
			t.Fatalf("%d spooled deliveries, want 3", len(spools))
		}
		for i, s := range spools {
			if s.mode != 0o600 || s.links != 0 || !s.sumOK || s.dirEntries != 0 {
				t.Errorf("spool %d: mode %v, %d links, SHA-256 right %v, %d files in the spool directory; want 0600, removed, right, none", i, s.mode, s.links, s.sumOK, s.dirEntries)
			}
			if _, err := s.file.Stat(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("spool %d: still open after the handler returned (%v)", i, err)
			}
		}
		if es, _ := os.ReadDir(cfg.SpoolDir); len(es) != 0 {
			t.Errorf("%d files left in the spool directory", len(es))
		}
	})
}

// TestWatchSpoolDirMissing: when the spool file cannot be made, the
// watcher says so (naming the spool directory, not a cut connection),
// keeps the message on the server, and handles it once the directory
// is there.
func TestWatchSpoolDirMissing(t *testing.T) {
	forEachWatchBackend(t, func(t *testing.T, srv *watchServer) {
		st := newWatchStore()
		cfg, log := watchConfig(t, srv, srv.addr)
		cfg.SpoolDir = filepath.Join(t.TempDir(), "spool")
		cfg.SpoolAbove = 64 << 10
		raw := watchMessage("nodir", 100<<10)
		srv.Append("INBOX", raw)
		startWatcher(t, cfg, st)
		deadline := time.Now().Add(watchDeadline)
		for !strings.Contains(log.String(), "the spool directory must be writable") {
			if time.Now().After(deadline) {
				t.Fatalf("no log naming the spool directory:\n%s", log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The server is fine: the backoff grows instead of starting over
		// at every successful login.
		for !strings.Contains(log.String(), "attempt=3") {
			if time.Now().After(deadline) {
				t.Fatalf("the backoff started over after each spool failure:\n%s", log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if strings.Contains(log.String(), "body cut after") {
			t.Error("a spool failure was reported as a cut connection")
		}
		if len(st.snapshot()) != 0 {
			t.Fatal("the message was handed over without its body")
		}
		if err := os.Mkdir(cfg.SpoolDir, 0o700); err != nil {
			t.Fatal(err)
		}
		st.waitProcessed(t, "nodir")
		st.checkOnce(t, "nodir")
		if c := st.snapshot()[0]; !bytes.Equal(c.Raw, raw) {
			t.Errorf("delivered %d bytes, want the %d the server holds", len(c.Raw), len(raw))
		}
	})
}

// TestSpoolEncrypted: the spool file holds no plaintext, and every range
// of it reads back as it came, whatever its offset and length (counter
// mode across block boundaries, and a counter that carries into its high
// half).
func TestSpoolEncrypted(t *testing.T) {
	raw := bytes.Repeat([]byte("You are useless, all of you. "), 40000) // ~1.1 MB
	b, n, err := spool(t.TempDir(), bytes.NewReader(raw), int64(len(raw)))
	if err != nil || n != int64(len(raw)) {
		t.Fatalf("spool: %d bytes, %v", n, err)
	}
	defer b.close()
	onDisk := make([]byte, len(raw))
	if _, err := b.sealed.f.ReadAt(onDisk, 0); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(onDisk, []byte("useless")) {
		t.Fatal("the spool file holds the message in clear")
	}
	for _, r := range [][2]int{{0, len(raw)}, {0, 1}, {15, 2}, {16, 16}, {17, 100}, {4095, 4099}, {len(raw) - 3, 3}, {123457, 65536}} {
		got := make([]byte, r[1])
		if _, err := b.sealed.ReadAt(got, int64(r[0])); err != nil {
			t.Fatalf("ReadAt(%d, %d): %v", r[0], r[1], err)
		}
		if !bytes.Equal(got, raw[r[0]:r[0]+r[1]]) {
			t.Errorf("ReadAt(%d, %d) differs from what was spooled", r[0], r[1])
		}
	}
	// A counter about to wrap its low 64 bits.
	for i := 8; i < 16; i++ {
		b.sealed.iv[i] = 0xff
	}
	w := b.sealed.writer()
	b.sealed.f.Seek(0, 0)
	if _, err := w.Write(raw[:4096]); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 100)
	if _, err := b.sealed.ReadAt(got, 1000); err != nil || !bytes.Equal(got, raw[1000:1100]) {
		t.Errorf("ReadAt past a carry into the counter's high half differs (%v)", err)
	}
}
