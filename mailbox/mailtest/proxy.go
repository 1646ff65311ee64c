package mailtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a loopback TCP proxy in front of a server that injects the
// faults real networks have: connections cut at once or in the middle of a
// response, a server that stops answering without closing (a black hole),
// and capabilities that a server does not offer.
type Proxy struct {
	// Addr is where clients connect (127.0.0.1:port).
	Addr   string
	target string
	ln     net.Listener
	t      testing.TB

	mu        sync.Mutex
	conns     map[*proxyConn]struct{}
	accepted  int
	changed   chan struct{} // closed and replaced whenever accepted grows
	stall     chan struct{} // non-nil while stalled; closed by Unstall
	dropAfter int64         // bytes to forward before cutting; <0: not armed
	stallAt   int64         // bytes to forward before stalling; <0: not armed
	hide      []string
	noExists  bool
	closed    bool
	wg        sync.WaitGroup
}

// NewProxy starts a proxy on 127.0.0.1:0 that forwards every connection to
// target. It is closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln := listen(t)
	p := &Proxy{
		Addr:      ln.Addr().String(),
		target:    target,
		ln:        ln,
		t:         t,
		conns:     make(map[*proxyConn]struct{}),
		changed:   make(chan struct{}),
		dropAfter: -1,
		stallAt:   -1,
	}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Unstall()
	p.DropAll()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		pc := &proxyConn{client: client, server: server, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			server.Close()
			return
		}
		pc.filter = newRespFilter(p.hide, p.noExists)
		p.conns[pc] = struct{}{}
		p.accepted++
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()

		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			io.Copy(server, client)
			p.closeConn(pc)
		}()
		go func() {
			defer p.wg.Done()
			p.serverToClient(pc)
			p.closeConn(pc)
		}()
	}
}

type proxyConn struct {
	client, server net.Conn
	filter         *respFilter
	once           sync.Once
	done           chan struct{}
}

func (p *Proxy) closeConn(pc *proxyConn) {
	pc.once.Do(func() {
		pc.client.Close()
		pc.server.Close()
		close(pc.done)
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	})
}

func (p *Proxy) serverToClient(pc *proxyConn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := pc.server.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			cut := false
			p.mu.Lock()
			if p.dropAfter >= 0 {
				if int64(len(chunk)) >= p.dropAfter {
					chunk = chunk[:p.dropAfter]
					p.dropAfter = -1
					cut = true
				} else {
					p.dropAfter -= int64(len(chunk))
				}
			}
			var later []byte // held back by StallAfter
			if p.stallAt >= 0 {
				if int64(len(chunk)) >= p.stallAt {
					chunk, later = chunk[:p.stallAt], chunk[p.stallAt:]
					p.stallAt = -1
				} else {
					p.stallAt -= int64(len(chunk))
				}
			}
			stall := p.stall
			p.mu.Unlock()
			if later != nil {
				if pc.filter != nil {
					chunk = pc.filter.feed(chunk)
				}
				if len(chunk) > 0 {
					if _, werr := pc.client.Write(chunk); werr != nil {
						return
					}
				}
				chunk = later
				p.Stall()
				p.mu.Lock()
				stall = p.stall
				p.mu.Unlock()
			}
			if stall != nil {
				select {
				case <-stall:
				case <-pc.done:
					return
				}
			}
			if pc.filter != nil {
				chunk = pc.filter.feed(chunk)
			}
			if len(chunk) > 0 {
				if _, werr := pc.client.Write(chunk); werr != nil {
					return
				}
			}
			if cut {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// DropAll cuts every open connection at once, both ways.
func (p *Proxy) DropAll() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for pc := range p.conns {
		conns = append(conns, pc)
	}
	p.mu.Unlock()
	for _, pc := range conns {
		p.closeConn(pc)
	}
}

// DropAfter arms a one-shot cut: after n more bytes from the server have
// been forwarded (on any connection), the connection that carries them is
// closed, in the middle of whatever the server was sending, e.g. a
// message literal.
func (p *Proxy) DropAfter(n int64) {
	p.mu.Lock()
	p.dropAfter = n
	p.mu.Unlock()
}

// Stall stops forwarding what servers send, without closing anything:
// clients see a black hole, on open connections and new ones alike. What
// the client sends still reaches the server. Unstall resumes.
func (p *Proxy) Stall() {
	p.mu.Lock()
	if p.stall == nil {
		p.stall = make(chan struct{})
	}
	p.mu.Unlock()
}

// StallAfter arms a one-shot stall: after n more bytes from the server
// have been forwarded (on any connection), the proxy stalls as with
// Stall, in the middle of whatever the server was sending, e.g. a message
// literal, until Unstall.
func (p *Proxy) StallAfter(n int64) {
	p.mu.Lock()
	p.stallAt = n
	p.mu.Unlock()
}

// Stalled reports whether the proxy is stalled now (by Stall, or by
// StallAfter once its bytes were forwarded).
func (p *Proxy) Stalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stall != nil
}

// Unstall forwards what was held back and resumes normal operation.
func (p *Proxy) Unstall() {
	p.mu.Lock()
	if p.stall != nil {
		close(p.stall)
		p.stall = nil
	}
	p.mu.Unlock()
}

// HideCaps hides IMAP capabilities from connections opened from now on
// (see WithoutCaps: IMAP4rev2 is hidden too; nothing is hidden after
// STARTTLS, since the proxy cannot read TLS).
func (p *Proxy) HideCaps(caps ...string) {
	p.mu.Lock()
	p.hide = append(p.hide, caps...)
	p.mu.Unlock()
}

// HideExists drops the untagged EXISTS responses (RFC 9051 section
// 7.4.1) that announce new messages, on connections opened from now on: a
// client that relies on them instead of searching by UID misses mail.
func (p *Proxy) HideExists() {
	p.mu.Lock()
	p.noExists = true
	p.mu.Unlock()
}

// Conns returns how many connections the proxy has accepted so far.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Open returns how many connections are open now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// WaitConns waits until the proxy has accepted at least n connections in
// total, or ctx is done.
func (p *Proxy) WaitConns(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		accepted, changed := p.accepted, p.changed
		p.mu.Unlock()
		if accepted >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("mailtest: proxy: %d of %d connections: %w", accepted, n, ctx.Err())
		}
	}
}
