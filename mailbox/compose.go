package mailbox

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"path"
	"strings"
	"time"

	"github.com/emersion/go-message"
)

// Address is a mailbox to write into a header: a display name (may be empty)
// and an address. It has the same shape as parse.Address, so a parsed
// address converts with Address(a).
type Address struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

// Outgoing is a message to compose: its header fields, its text and its
// attachments. There is no Bcc: blind recipients are envelope recipients
// only (Sender.Send's rcpt), never a header field.
type Outgoing struct {
	From Address
	// Sender is written when the message is sent on behalf of From
	// (RFC 5322 section 3.6.2), e.g. backstop sending for a lead.
	Sender     *Address
	To, Cc     []Address
	ReplyTo    []Address
	Subject    string
	MessageID  string // with or without angle brackets; generated when empty
	InReplyTo  string // a Message-ID, with or without angle brackets
	References []string
	Date       time.Time // time.Now() when zero
	// AutoSubmitted is the RFC 3834 Auto-Submitted value: "auto-generated",
	// "auto-replied" or "" for none.
	AutoSubmitted string
	// Headers are extra header fields (X-Backstop-Incident, ...), written in
	// this order after the standard ones. They may not repeat a field
	// Compose writes itself.
	Headers [][2]string
	// Text is the plain-text body; HTML, when set, is its alternative
	// (multipart/alternative). Both get a final line break if they lack
	// one; line ends are written as CRLF.
	Text, HTML  string
	Attachments []OutAttachment
}

// OutAttachment is a file attached to an Outgoing message. A ContentType of
// message/rfc822 (the default for a .eml file name) attaches a whole message,
// such as the evidence of an incident.
type OutAttachment struct {
	Filename    string
	ContentType string // application/octet-stream when empty
	Data        []byte
	// Open, when set instead of Data, returns the content to read, Size
	// bytes: a large attachment is streamed as it is written, never held
	// whole. It is called more than once (to choose the encoding, then
	// for every write); each call must return the same bytes.
	Open func() (io.ReadCloser, error)
	Size int64
}

// maxLineOctets is the limit on a line of a message, without its CRLF
// (RFC 5322 section 2.1.1).
const maxLineOctets = 998

// headersComposed are the fields Compose writes itself; Outgoing.Headers may
// not set them.
var headersComposed = map[string]bool{
	"Date": true, "From": true, "Sender": true, "To": true, "Cc": true,
	"Bcc": true, "Reply-To": true, "Subject": true, "Message-Id": true,
	"In-Reply-To": true, "References": true, "Mime-Version": true,
	"Auto-Submitted": true, "Content-Type": true,
	"Content-Transfer-Encoding": true, "Content-Disposition": true,
	"Return-Path": true, "Received": true,
}

// Compose writes o as an RFC 5322 message with MIME (RFC 2045-2049): CRLF
// line ends, quoted-printable UTF-8 text, base64 attachments (message/rfc822
// attachments as 7bit or 8bit), RFC 2047 encoded header words, and no line
// longer than 998 octets.
//
// The structure is text/plain alone, or multipart/alternative (text/plain,
// text/html), wrapped in multipart/mixed with the attachments when there are
// any. Header fields come out in a fixed order: Date, From, Sender, To, Cc,
// Reply-To, Subject, Message-ID, In-Reply-To, References, Auto-Submitted,
// the extra Headers in their order, MIME-Version, Content-Type.
func Compose(o *Outgoing) ([]byte, error) {
	c, err := NewComposed(o)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(c.Size())) // one allocation, not a doubling series, for a large attachment
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Composed is a message composed as Compose composes it, written on
// demand: an attachment given as OutAttachment.Open is read as it is
// written, never held. Sender.SendComposed writes it into the SMTP DATA.
type Composed struct {
	fields   [][2]string // the top header, MIME fields included
	body     *bodyPart
	atts     []*attachmentPart
	boundary string // of multipart/mixed; "" without attachments
	size     int64
}

// NewComposed checks and prepares o as Compose does. Attachments given as
// Open are read through (once, or twice for a message/rfc822 one) to
// choose their encoding and a boundary they do not contain.
func NewComposed(o *Outgoing) (*Composed, error) {
	if o == nil {
		return nil, errors.New("compose: no message given")
	}
	fields, err := o.headerFields()
	if err != nil {
		return nil, err
	}
	body, err := newBodyPart(o)
	if err != nil {
		return nil, err
	}
	c := &Composed{body: body, atts: make([]*attachmentPart, len(o.Attachments))}
	for i := range o.Attachments {
		if c.atts[i], err = newAttachmentPart(&o.Attachments[i]); err != nil {
			return nil, fmt.Errorf("compose: attachment %d (%q): %w", i+1, o.Attachments[i].Filename, err)
		}
	}
	c.size = int64(composedSize(fields, o, c.atts))
	if len(c.atts) == 0 {
		fields = append(fields, [2]string{"MIME-Version", "1.0"})
		c.fields = append(fields, body.header...)
		return c, nil
	}
	// An attachment sent as 7bit or 8bit must not contain the boundary.
	if c.boundary, err = newBoundary(func(b string) (bool, error) {
		for _, a := range c.atts {
			if clash, err := a.contains(b); clash || err != nil {
				return clash, err
			}
		}
		return false, nil
	}); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	c.fields = append(fields,
		[2]string{"MIME-Version", "1.0"},
		[2]string{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": c.boundary})},
	)
	return c, nil
}

// Size is an estimate of the composed message's size in bytes, never
// below it (the SMTP SIZE parameter, RFC 1870).
func (c *Composed) Size() int64 { return c.size }

// streams reports whether an attachment is read as it is written.
func (c *Composed) streams() bool {
	for _, a := range c.atts {
		if a.open != nil {
			return true
		}
	}
	return false
}

// WriteTo writes the message. An error reading an attachment stops it
// part-way: the caller must not take what was written for a message.
func (c *Composed) WriteTo(dst io.Writer) (int64, error) {
	cw := &countWriter{w: dst}
	err := c.write(cw)
	return cw.n, err
}

func (c *Composed) write(dst io.Writer) error {
	w, err := message.CreateWriter(dst, headerOf(c.fields))
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if len(c.atts) == 0 {
		if err := c.body.write(w); err != nil {
			return fmt.Errorf("compose: %w", err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("compose: %w", err)
		}
		return nil
	}
	pw, err := w.CreatePart(headerOf(c.body.header))
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if err := c.body.write(pw); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	for _, a := range c.atts {
		pw, err := w.CreatePart(headerOf(a.header))
		if err != nil {
			return fmt.Errorf("compose: attachment %q: %w", a.filename, err)
		}
		if err := a.writeTo(pw); err != nil {
			return fmt.Errorf("compose: attachment %q: %w", a.filename, err)
		}
		if err := pw.Close(); err != nil {
			return fmt.Errorf("compose: attachment %q: %w", a.filename, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// headerFields returns the message's own header fields in output order,
// without MIME-Version and Content-*.
func (o *Outgoing) headerFields() ([][2]string, error) {
	var fields [][2]string
	add := func(k, v string) { fields = append(fields, [2]string{k, v}) }

	date := o.Date
	if date.IsZero() {
		date = time.Now()
	}
	// RFC 5322 section 3.3 date-time.
	add("Date", date.Format(time.RFC1123Z))

	from, err := formatAddress("From", o.From)
	if err != nil {
		return nil, err
	}
	add("From", from)
	if o.Sender != nil {
		s, err := formatAddress("Sender", *o.Sender)
		if err != nil {
			return nil, err
		}
		add("Sender", s)
	}
	for _, l := range []struct {
		key   string
		addrs []Address
	}{{"To", o.To}, {"Cc", o.Cc}, {"Reply-To", o.ReplyTo}} {
		if len(l.addrs) == 0 {
			continue
		}
		s, err := formatAddressList(l.key, l.addrs)
		if err != nil {
			return nil, err
		}
		add(l.key, s)
	}

	if subject := unfoldLine(o.Subject); subject != "" {
		add("Subject", encodeWord(subject))
	}

	id := o.MessageID
	if id == "" {
		id = NewMessageID("", addrDomain(o.From.Address))
	}
	id, err = cleanMsgID("Message-ID", id)
	if err != nil {
		return nil, err
	}
	add("Message-ID", "<"+id+">")
	if o.InReplyTo != "" {
		irt, err := cleanMsgID("In-Reply-To", o.InReplyTo)
		if err != nil {
			return nil, err
		}
		add("In-Reply-To", "<"+irt+">")
	}
	if len(o.References) > 0 {
		refs := make([]string, 0, len(o.References))
		for _, r := range o.References {
			r, err := cleanMsgID("References", r)
			if err != nil {
				return nil, err
			}
			refs = append(refs, "<"+r+">")
		}
		// Folded at the spaces by the header writer (RFC 5322 section 2.2.3).
		add("References", strings.Join(refs, " "))
	}

	if o.AutoSubmitted != "" {
		// RFC 3834 section 5: auto-submitted-field values are tokens.
		if !isMIMEToken(o.AutoSubmitted) {
			return nil, fmt.Errorf("compose: Auto-Submitted %q is not a token; use \"auto-generated\" or \"auto-replied\"", o.AutoSubmitted)
		}
		add("Auto-Submitted", o.AutoSubmitted)
	}

	for _, h := range o.Headers {
		k, v := h[0], h[1]
		if !isFieldName(k) {
			return nil, fmt.Errorf("compose: header name %q is invalid; use printable ASCII without spaces or colons", k)
		}
		if headersComposed[textproto.CanonicalMIMEHeaderKey(k)] {
			return nil, fmt.Errorf("compose: header %s is written by Compose; set it through its Outgoing field, not Headers", k)
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("compose: header %s contains a line break; give it on one line (long values are folded)", k)
		}
		add(k, encodeWord(v))
	}
	return fields, nil
}

// rawKeys are field names written as spelled here rather than in
// go-message's canonical form ("Message-Id", "Mime-Version"); their values
// are short and need no folding.
var rawKeys = map[string]bool{"Message-ID": true, "MIME-Version": true}

// headerOf returns a header holding fields in the given order.
func headerOf(fields [][2]string) message.Header {
	var h message.Header
	// Header.Add puts a field on top of the others: add in reverse.
	for i := len(fields) - 1; i >= 0; i-- {
		k, v := fields[i][0], fields[i][1]
		if rawKeys[k] {
			h.AddRaw([]byte(k + ": " + v + "\r\n"))
			continue
		}
		h.Add(k, v)
	}
	return h
}

// bodyPart is the readable part of a message: text/plain alone or a
// multipart/alternative of text/plain and text/html.
type bodyPart struct {
	header [][2]string // Content-Type (and Content-Transfer-Encoding)
	text   string
	html   string
}

var textHeader = [][2]string{
	{"Content-Type", "text/plain; charset=utf-8"},
	{"Content-Transfer-Encoding", "quoted-printable"},
}

var htmlHeader = [][2]string{
	{"Content-Type", "text/html; charset=utf-8"},
	{"Content-Transfer-Encoding", "quoted-printable"},
}

func newBodyPart(o *Outgoing) (*bodyPart, error) {
	if o.HTML == "" {
		return &bodyPart{header: textHeader, text: withLineEnd(o.Text)}, nil
	}
	// Quoted-printable output never contains "=_", so a boundary holding it
	// can't occur in the parts (RFC 2045 section 6.7).
	b, err := newBoundary(nil)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return &bodyPart{
		header: [][2]string{{"Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": b})}},
		text:   withLineEnd(o.Text),
		html:   withLineEnd(o.HTML),
	}, nil
}

// withLineEnd returns s ending in a line break, so that every line of the
// message ends in CRLF; "" stays empty.
func withLineEnd(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

func (b *bodyPart) write(w *message.Writer) error {
	if b.html == "" {
		_, err := io.WriteString(w, b.text)
		return err
	}
	for _, p := range []struct {
		header [][2]string
		body   string
	}{{textHeader, b.text}, {htmlHeader, b.html}} {
		pw, err := w.CreatePart(headerOf(p.header))
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, p.body); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// attachmentPart is an attachment ready to write.
type attachmentPart struct {
	filename string
	header   [][2]string
	data     []byte
	open     func() (io.ReadCloser, error) // instead of data
	size     int64
	encoded  bool // base64: the data can't contain a boundary
}

// writeTo writes the attachment's content, unencoded, into w.
func (a *attachmentPart) writeTo(w io.Writer) error {
	if a.open == nil {
		_, err := w.Write(a.data)
		return err
	}
	r, err := a.open()
	if err != nil {
		return err
	}
	defer r.Close()
	n, err := io.Copy(w, r)
	if err == nil && n != a.size {
		err = fmt.Errorf("read %d bytes of %d: the content changed", n, a.size)
	}
	return err
}

// contains reports whether an attachment sent as lines contains b.
func (a *attachmentPart) contains(b string) (bool, error) {
	if a.encoded {
		return false, nil
	}
	if a.open == nil {
		return bytes.Contains(a.data, []byte(b)), nil
	}
	r, err := a.open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	keep := 0 // bytes of the previous read kept in front, for a match across reads
	for {
		n, err := r.Read(buf[keep:])
		if bytes.Contains(buf[:keep+n], []byte(b)) {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		end := keep + n
		keep = min(len(b)-1, end)
		copy(buf, buf[end-keep:end])
	}
}

// composedSize estimates the composed message's size from its header
// fields and parts, never below it: quoted-printable takes at most 3
// bytes for one, plus a soft line break ("=" CRLF) every 76 (RFC 2045
// section 6.7), and so does an encoded word (RFC 2047 section 4.2) with
// its folding; base64 takes 78 bytes a line for 57 (RFC 2045 section
// 6.8). The 4 KiB cover the MIME fields, boundaries and part headers.
func composedSize(fields [][2]string, o *Outgoing, atts []*attachmentPart) int {
	qp := func(n int) int { return n*3 + n*3/25 }
	n := 4<<10 + qp(len(o.Text)+1) + qp(len(o.HTML)+1)
	for _, f := range fields {
		n += len(f[0]) + len(": \r\n") + qp(len(f[1]))
	}
	for _, a := range atts {
		size := len(a.data)
		if a.open != nil {
			size = int(a.size)
		}
		if a.encoded {
			n += size/57*78 + 78
		} else {
			n += size + size/50 // line ends made CRLF
		}
		n += 1 << 10
	}
	return n
}

func newAttachmentPart(a *OutAttachment) (*attachmentPart, error) {
	name := unfoldLine(a.Filename)
	ctype := a.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
		if strings.EqualFold(path.Ext(name), ".eml") {
			ctype = "message/rfc822"
		}
	}
	mediaType, params, err := mime.ParseMediaType(ctype)
	if err == nil && !strings.Contains(mediaType, "/") {
		err = errors.New("no subtype")
	}
	if err != nil {
		return nil, fmt.Errorf("content type %q is invalid (%v); use a type/subtype such as application/pdf", ctype, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		return nil, fmt.Errorf("content type %s can't be attached as a file; attach it as message/rfc822 or application/octet-stream", mediaType)
	}
	p := &attachmentPart{filename: name, data: a.Data, open: a.Open, size: a.Size}

	cte := "base64"
	if mediaType == "message/rfc822" {
		// RFC 2046 section 5.2.1: no base64 or quoted-printable for
		// message/rfc822. When the message can't travel as 7bit or 8bit
		// lines it goes as an opaque .eml file instead.
		enc := lineEncoding(a.Data)
		if a.Open != nil {
			if enc, err = lineEncodingOf(a.Open); err != nil {
				return nil, err
			}
		}
		if enc != "" {
			cte = enc
		} else {
			mediaType, params = "application/octet-stream", nil
			if !strings.EqualFold(path.Ext(name), ".eml") {
				name += ".eml"
			}
		}
	}
	p.encoded = cte == "base64"
	if name == "" {
		name = "attachment"
		if mediaType == "message/rfc822" {
			name = "message.eml"
		}
	}
	p.filename = name
	// mime.FormatMediaType applies RFC 2231 to non-ASCII file names.
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if disp == "" {
		return nil, fmt.Errorf("file name %q can't be written in a header; rename the file", name)
	}
	if params == nil {
		params = map[string]string{}
	}
	ct := mime.FormatMediaType(mediaType, params)
	if ct == "" {
		return nil, fmt.Errorf("content type %q can't be written in a header", ctype)
	}
	p.header = [][2]string{
		{"Content-Type", ct},
		{"Content-Disposition", disp},
		{"Content-Transfer-Encoding", cte},
	}
	return p, nil
}

// lineEncoding returns the Content-Transfer-Encoding under which data can be
// sent unchanged as lines: "7bit" or "8bit" when every line ends in CRLF, has
// no NUL, no bare CR or LF, and at most 998 octets (RFC 2045 section 2.7,
// 2.8); "" otherwise.
func lineEncoding(data []byte) string {
	var l lineScan
	l.scan(data)
	return l.result()
}

// lineEncodingOf is lineEncoding of the content open returns, read
// through once.
func lineEncodingOf(open func() (io.ReadCloser, error)) (string, error) {
	r, err := open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	var l lineScan
	buf := make([]byte, 64<<10)
	for !l.bad {
		n, err := r.Read(buf)
		l.scan(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return l.result(), nil
}

// lineScan is lineEncoding's state, so that data can come in pieces.
type lineScan struct {
	lineLen  int
	cr       bool // the last byte was a CR
	eightBit bool
	bad      bool
}

func (l *lineScan) scan(data []byte) {
	for i := 0; i < len(data) && !l.bad; i++ {
		c := data[i]
		if l.cr {
			l.cr = false
			if c != '\n' {
				l.bad = true
				return
			}
			l.lineLen = 0
			continue
		}
		switch {
		case c == '\r':
			l.cr = true
			continue
		case c == '\n' || c == 0:
			l.bad = true
			return
		case c >= 0x80:
			l.eightBit = true
		}
		l.lineLen++
		if l.lineLen > maxLineOctets {
			l.bad = true
		}
	}
}

func (l *lineScan) result() string {
	switch {
	case l.bad || l.cr:
		return ""
	case l.eightBit:
		return "8bit"
	}
	return "7bit"
}

// newBoundary returns a random multipart boundary for which clash (nil:
// none) reports false: one that occurs in no part.
func newBoundary(clash func(boundary string) (bool, error)) (string, error) {
	for range 10 {
		var b [15]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("random boundary: %w", err)
		}
		// "=_" can't appear in quoted-printable or base64 text.
		boundary := "=_" + hex.EncodeToString(b[:])
		if clash == nil {
			return boundary, nil
		}
		if c, err := clash(boundary); err != nil || !c {
			return boundary, err
		}
	}
	return "", errors.New("no multipart boundary avoids the attachment's content")
}

// NewMessageID returns a new globally unique Message-ID (RFC 5322 section
// 3.6.4), without angle brackets, as Message.MessageID holds them:
// token.RANDOM@domain. The token (an incident reference, say) is kept in
// front so that replies show it in In-Reply-To; characters a Message-ID
// can't hold are dropped from it. An empty domain gives "localhost".
func NewMessageID(token, domain string) string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read does not fail on supported platforms.
		panic("mailbox: crypto/rand failed: " + err.Error())
	}
	left := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	if t := dotAtom(token); t != "" {
		left = t + "." + left
	}
	d := dotAtom(domain)
	if d == "" {
		d = "localhost"
	}
	return left + "@" + strings.ToLower(d)
}

// dotAtom keeps the RFC 5322 atext characters and single dots of s.
func dotAtom(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '.':
			if b.Len() > 0 && !strings.HasSuffix(b.String(), ".") {
				b.WriteByte('.')
			}
		case isAtextRune(r):
			b.WriteRune(r)
		}
	}
	return strings.TrimSuffix(b.String(), ".")
}

func isAtextRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// cleanMsgID validates a msg-id (RFC 5322 section 3.6.4) and returns it
// without angle brackets.
func cleanMsgID(field, id string) (string, error) {
	s := strings.TrimSpace(id)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	if len(s) > 250 {
		return "", fmt.Errorf("compose: %s %q is %d octets long; a message ID this long is not one backstop writes", field, id, len(s))
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", fmt.Errorf("compose: %s %q is not a message ID; give it as left@right", field, id)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' {
			return "", fmt.Errorf("compose: %s %q contains %q; a message ID is printable ASCII without spaces or angle brackets", field, id, string(c))
		}
	}
	return s, nil
}

func addrDomain(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return ""
}

// formatAddress formats a as a mailbox with an RFC 2047 encoded display name
// when it isn't ASCII.
func formatAddress(field string, a Address) (string, error) {
	if a.Address == "" {
		return "", fmt.Errorf("compose: %s has no address; give one (a name alone can't be written)", field)
	}
	if strings.ContainsAny(a.Address+a.Name, "\r\n") {
		return "", fmt.Errorf("compose: %s %q contains a line break; remove it", field, a.Address)
	}
	if strings.ContainsAny(a.Address, " \t<>,;\"") || strings.Count(a.Address, "@") != 1 ||
		strings.HasPrefix(a.Address, "@") || strings.HasSuffix(a.Address, "@") {
		return "", fmt.Errorf("compose: %s %q is not an email address; give it as local@domain", field, a.Address)
	}
	return (&mail.Address{Name: a.Name, Address: a.Address}).String(), nil
}

func formatAddressList(field string, l []Address) (string, error) {
	parts := make([]string, len(l))
	for i, a := range l {
		s, err := formatAddress(field, a)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	return strings.Join(parts, ", "), nil
}

// encodeWord returns s, with RFC 2047 encoded words where it isn't printable
// ASCII.
func encodeWord(s string) string {
	return mime.QEncoding.Encode("utf-8", s)
}

// unfoldLine turns every run of line breaks in s into one space and trims it.
func unfoldLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " "))
}

func isMIMEToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?=", c) >= 0 {
			return false
		}
	}
	return true
}

func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		// RFC 5322 section 3.6.8: printable ASCII except colon.
		if c := s[i]; c < '!' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}
