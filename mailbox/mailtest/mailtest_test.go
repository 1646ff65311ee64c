package mailtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func testMessage(i int) []byte {
	return fmt.Appendf(nil, "From: a@example.org\r\nTo: escalations@example.org\r\nSubject: test %d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody %d\r\n", i, i, i)
}

// server is what both IMAPServer and Dovecot offer.
type server interface {
	Append(mailbox string, raw []byte, flags ...imap.Flag) imap.UID
	UIDs(mailbox string) []imap.UID
	Messages(mailbox string) []Message
	RecreateMailbox(name string) uint32
	UIDValidity(mailbox string) uint32
	NewClient(t testing.TB) *imapclient.Client
}

func backends(t *testing.T) map[string]func(t *testing.T) (server, string, string, *Cert) {
	return map[string]func(t *testing.T) (server, string, string, *Cert){
		"memserver": func(t *testing.T) (server, string, string, *Cert) {
			s := NewIMAPServer(t)
			return s, s.Addr, s.TLSAddr, s.Cert
		},
		"dovecot": func(t *testing.T) (server, string, string, *Cert) {
			d := StartDovecot(t)
			return d, d.Addr, d.TLSAddr, d.Cert
		},
	}
}

func TestIMAPServers(t *testing.T) {
	for name, start := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s, addr, tlsAddr, cert := start(t)
			var want []imap.UID
			for i := range 3 {
				want = append(want, s.Append("INBOX", testMessage(i)))
			}
			if got := s.UIDs("INBOX"); !slices.Equal(got, want) {
				t.Fatalf("UIDs = %v, want %v", got, want)
			}
			s.Append("Other", testMessage(9), imap.FlagDeleted, "$Custom")
			msgs := s.Messages("Other")
			if len(msgs) != 1 || !bytes.Equal(msgs[0].Raw, testMessage(9)) {
				t.Fatalf("Messages(Other) = %+v", msgs)
			}
			if !msgs[0].HasFlag(imap.FlagDeleted) || !msgs[0].HasFlag("$custom") {
				t.Errorf("flags = %v, want \\Deleted and $Custom", msgs[0].Flags)
			}
			if got := s.Messages("Missing"); got != nil {
				t.Errorf("Messages(Missing) = %v, want nil", got)
			}
			old := s.UIDValidity("Other")
			if v := s.RecreateMailbox("Other"); v == old {
				t.Errorf("UIDVALIDITY unchanged: %d", v)
			}
			if got := s.UIDs("Other"); got != nil {
				t.Errorf("UIDs after re-creation = %v", got)
			}

			// Implicit TLS with the test certificate, by IP address.
			cfg := cert.ClientConfig()
			c, err := imapclient.DialTLS(tlsAddr, &imapclient.Options{TLSConfig: cfg})
			if err != nil {
				t.Fatalf("DialTLS: %v", err)
			}
			defer c.Close()
			if err := c.Login(DefaultUsername, DefaultPassword).Wait(); err != nil {
				t.Fatalf("login over TLS: %v", err)
			}
			// STARTTLS on the plain port.
			c2, err := imapclient.DialStartTLS(addr, &imapclient.Options{TLSConfig: cert.ClientConfig()})
			if err != nil {
				t.Fatalf("DialStartTLS: %v", err)
			}
			defer c2.Close()
			if err := c2.Login(DefaultUsername, DefaultPassword).Wait(); err != nil {
				t.Fatalf("login after STARTTLS: %v", err)
			}
			// Untrusted certificate is refused.
			if c3, err := imapclient.DialTLS(tlsAddr, &imapclient.Options{TLSConfig: &tls.Config{}}); err == nil {
				c3.Close()
				t.Errorf("DialTLS without the test CA succeeded")
			}
		})
	}
}

func TestIMAPWithoutCaps(t *testing.T) {
	s := NewIMAPServer(t, WithoutCaps(imap.CapMove, imap.CapUIDPlus, imap.CapIdle))
	c := s.NewClient(t)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, hidden := range []imap.Cap{imap.CapMove, imap.CapUIDPlus, imap.CapIdle, imap.CapIMAP4rev2} {
		if caps.Has(hidden) {
			t.Errorf("capability %s still offered: %v", hidden, caps)
		}
	}
	if !caps.Has(imap.CapIMAP4rev1) {
		t.Errorf("IMAP4rev1 missing: %v", caps)
	}
	// Literals pass through the filter untouched, even when they look like
	// capability lines.
	raw := []byte("Subject: x\r\n\r\n* CAPABILITY IMAP4rev1 MOVE IDLE\r\n")
	s.Append("INBOX", raw)
	if msgs := s.Messages("INBOX"); len(msgs) != 1 || !bytes.Equal(msgs[0].Raw, raw) {
		t.Errorf("message changed by the filter: %+v", msgs)
	}
}

func TestIMAPRespFilter(t *testing.T) {
	f := newRespFilter([]string{"MOVE"}, true)
	in := "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 MOVE IDLE] hi\r\n" +
		"* 1 FETCH (BODY[] {30}\r\n* CAPABILITY IMAP4rev1 MOVE\r\n)\r\n" +
		"* CAPABILITY IMAP4rev1 MOVE IDLE\r\n" +
		"* 3 EXISTS\r\n* 2 EXPUNGE\r\n"
	want := "* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n" +
		"* 1 FETCH (BODY[] {30}\r\n* CAPABILITY IMAP4rev1 MOVE\r\n)\r\n" +
		"* CAPABILITY IMAP4rev1 IDLE\r\n" +
		"* 2 EXPUNGE\r\n"
	// Byte by byte: lines and literals split anywhere.
	var out []byte
	for i := range len(in) {
		out = append(out, f.feed([]byte{in[i]})...)
	}
	if string(out) != want {
		t.Errorf("filtered:\n%q\nwant:\n%q", out, want)
	}
}

func TestIMAPProxy(t *testing.T) {
	s := NewIMAPServer(t)
	p := NewProxy(t, s.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	login := func() *imapclient.Client {
		t.Helper()
		c, err := dial(p.Addr, s.Username, s.Password, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("DropAll", func(t *testing.T) {
		c := login()
		p.DropAll()
		select {
		case <-c.Closed():
		case <-ctx.Done():
			t.Fatal("client not disconnected")
		}
		if err := c.Noop().Wait(); err == nil {
			t.Error("NOOP after DropAll succeeded")
		}
	})

	t.Run("DropAfter", func(t *testing.T) {
		raw := bytes.Repeat([]byte("0123456789abcdef\r\n"), 1<<14) // ~288 KiB
		raw = append([]byte("Subject: big\r\n\r\n"), raw...)
		uid := s.Append("INBOX", raw)
		c := login()
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		p.DropAfter(100 << 10)
		fc := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		var n, size int64
		if msg := fc.Next(); msg != nil {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if b, ok := item.(imapclient.FetchItemDataBodySection); ok && b.Literal != nil {
					size = b.Literal.Size()
					n, _ = io.Copy(io.Discard, b.Literal)
					break
				}
			}
		}
		if n < size {
			// Once a cut literal has returned EOF, the client's reader
			// goroutine reads on: touching the literal again (as Next and
			// Close do) races with it until the client is closed.
			c.Close()
		}
		err := fc.Close()
		if err == nil || n >= size {
			t.Errorf("cut fetch: read %d of %d bytes, Close() = %v; want short read and an error", n, size, err)
		}
	})

	t.Run("Stall", func(t *testing.T) {
		c := login()
		p.Stall()
		noop := make(chan error, 1)
		go func() { noop <- c.Noop().Wait() }()
		select {
		case err := <-noop:
			t.Fatalf("NOOP answered through a stalled proxy: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		p.Unstall()
		select {
		case err := <-noop:
			if err != nil {
				t.Fatalf("NOOP after Unstall: %v", err)
			}
		case <-ctx.Done():
			t.Fatal("NOOP not answered after Unstall")
		}
	})

	t.Run("HideCaps", func(t *testing.T) {
		p.HideCaps("IDLE")
		c := login()
		caps, err := c.Capability().Wait()
		if err != nil {
			t.Fatal(err)
		}
		if caps.Has(imap.CapIdle) {
			t.Errorf("IDLE still offered: %v", caps)
		}
	})

	before := p.Conns()
	login()
	if err := p.WaitConns(ctx, before+1); err != nil {
		t.Fatal(err)
	}
}

// TestIMAPDovecotSkip: the Dovecot tests skip only when
// BACKSTOP_TEST_DOVECOT is empty; any other value but 1 is a mistake that
// fails rather than silently skipping the real-server suite.
func TestIMAPDovecotSkip(t *testing.T) {
	for _, tc := range []struct {
		env     string
		wantErr bool
	}{
		{"", false},
		{"true", true},
		{"0", true},
		{"yes", true},
	} {
		t.Setenv(DovecotEnv, tc.env)
		_, ok, err := DovecotAvailable()
		if ok || (err != nil) != tc.wantErr {
			t.Errorf("%s=%q: DovecotAvailable = %v, %v; want not available, error %v", DovecotEnv, tc.env, ok, err, tc.wantErr)
		}
	}
	t.Setenv(DovecotEnv, "")
	ran := false
	t.Run("skip", func(t *testing.T) {
		StartDovecot(t)
		ran = true
	})
	if ran {
		t.Error("StartDovecot did not skip")
	}
}
