package parse

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// Limits bound the work Parse does on one message, so that hostile input
// (thousands of nested parts, huge headers, forwards of forwards) finishes
// in bounded time and memory. Reaching a limit adds a warning and stops
// descending; it is never an error. A zero field takes its DefaultLimits
// value.
type Limits struct {
	MaxParts       int   // MIME parts read, at all levels
	MaxDepth       int   // nesting of multiparts and attached messages
	MaxHeaderBytes int   // bytes kept of one header section
	MaxTextBytes   int64 // decoded bytes kept of one text part
	MaxOriginals   int   // forwarded originals extracted
}

// DefaultLimits are the limits Parse uses.
var DefaultLimits = Limits{
	MaxParts:       1000,
	MaxDepth:       30,
	MaxHeaderBytes: 1 << 20,
	MaxTextBytes:   4 << 20,
	MaxOriginals:   50,
}

// maxHeaderLine bounds one header line kept by the top header reader.
const maxHeaderLine = 256 << 10

// textBudgetFactor times MaxTextBytes bounds the text kept from all the
// parts of one message together.
const textBudgetFactor = 4

// largeAttachment is the size above which an attachment is worth a warning.
const largeAttachment = 25 << 20

// maxWarnings bounds the warnings kept for one message.
const maxWarnings = 50

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxParts > 0 {
		d.MaxParts = l.MaxParts
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	if l.MaxTextBytes > 0 {
		d.MaxTextBytes = l.MaxTextBytes
	}
	if l.MaxOriginals > 0 {
		d.MaxOriginals = l.MaxOriginals
	}
	return d
}

// Parse reads a message with DefaultLimits. See Limits.Parse.
func Parse(r io.Reader) (*Message, error) {
	return DefaultLimits.Parse(r)
}

// Parse reads a mail message: its own headers, its text (HTML converted),
// its attachments (measured, never kept), whether a machine wrote it
// (Auto), and what kind of message it is: a forward (with the forwarded
// originals, outermost first, and the forwarder's note), a reply (with only
// the text the sender wrote), or other.
//
// Parse returns a non-nil *Message whenever it can read anything. Problems
// that do not stop it (unknown charsets, broken encodings, limits reached)
// are in Message.Warnings. The error wraps ErrMalformed only when the input
// does not start with a mail header; the partial Message (its text read as
// the body) is returned with it.
func (l Limits) Parse(r io.Reader) (*Message, error) {
	p := &parser{lim: l.withDefaults(), seen: map[string]bool{}}
	pm := p.readMessage(r, 0)
	m := pm.msg
	p.analyseTop(pm)
	cleanNames(m) // clean.go
	m.Warnings = append(m.Warnings, p.warnings...)
	if pm.noHeader {
		return m, fmt.Errorf("parse: the input does not start with a mail header: %w", ErrMalformed)
	}
	return m, nil
}

type parser struct {
	lim      Limits
	parts    int
	textUsed int64 // text bytes kept so far, all parts
	warnings []string
	seen     map[string]bool
	notes    []string // decisions, for Explain
}

func (p *parser) warn(format string, args ...any) {
	w := fmt.Sprintf(format, args...)
	if p.seen[w] {
		return
	}
	p.seen[w] = true
	if len(p.warnings) == maxWarnings {
		p.warnings = append(p.warnings, "too many warnings: the rest are not listed")
	}
	if len(p.warnings) >= maxWarnings {
		return
	}
	p.warnings = append(p.warnings, w)
}

// parsed is one message read from the input: the top-level one or an
// attached one.
type parsed struct {
	msg      *Message
	header   gomail.Header
	noHeader bool
	plain    []string // inline text/plain parts
	html     []string // inline text/html parts
	attached []*parsed
	raw      []byte // the raw bytes of an attached message (up to MaxTextBytes)
	report   string // report-type of a top-level multipart/report
	dsn      []DeliveryStatus
	reportID string // Message-ID of the message a report returns
	depth    int
}

func newMessage() *Message {
	return &Message{
		InReplyTo:   []string{},
		References:  []string{},
		ReplyTo:     []Address{},
		To:          []Address{},
		Cc:          []Address{},
		DeliveredTo: []string{},
		Kind:        KindOther,
		Originals:   []Original{},
		Attachments: []Attachment{},
		Warnings:    []string{},
	}
}

// readMessage reads one message (header and body) at the given nesting
// depth.
func (p *parser) readMessage(r io.Reader, depth int) *parsed {
	br := bufio.NewReader(r)
	hr := readHeader(br, p.lim.MaxHeaderBytes, maxHeaderLine)
	return p.messageFrom(hr, depth)
}

// messageFrom reads the body of a message whose header has been read.
func (p *parser) messageFrom(hr headerResult, depth int) *parsed {
	for _, w := range hr.warnings {
		p.warn("%s", w)
	}
	pm := &parsed{msg: newMessage(), header: gomail.Header{Header: message.Header{Header: hr.header}}, noHeader: hr.noHeader, depth: depth}
	fillHeaders(pm.msg, pm.header)
	p.walk(hr.header, hr.body, depth, pm, true)
	return pm
}

// walk reads one MIME entity and what it contains. root is set for the
// entity that is a message's whole body.
func (p *parser) walk(h textproto.Header, body io.Reader, depth int, pm *parsed, root bool) {
	p.parts++
	if p.parts > p.lim.MaxParts {
		p.warn("more than %d MIME parts: the rest are not read", p.lim.MaxParts)
		return
	}
	mh := message.Header{Header: h}
	mt, params := contentType(mh)
	disp, dparams := contentDisposition(mh)
	filename := decodeWords(dparams["filename"])
	if filename == "" {
		filename = decodeWords(params["name"])
	}
	filename = toUTF8(filename)

	if strings.HasPrefix(mt, "multipart/") {
		if depth+1 > p.lim.MaxDepth {
			p.warn("MIME parts nested deeper than %d: the inner parts are not read", p.lim.MaxDepth)
			return
		}
		boundary := params["boundary"]
		if boundary == "" {
			body, boundary = guessBoundary(body)
			if boundary == "" {
				p.warn("%s part without a boundary: read as text", mt)
				p.readText(body, "text/plain", params, pm)
				return
			}
			p.warn("%s part without a boundary: read with the boundary %q found in it", mt, boundary)
		}
		if mt == "multipart/report" {
			pm.report = strings.ToLower(params["report-type"])
		}
		mr := textproto.NewMultipartReader(body, boundary)
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				p.warn("broken MIME structure in %s: %v (the rest of it is not read)", mt, err)
				break
			}
			p.walk(part.Header, part, depth+1, pm, false)
			if p.parts > p.lim.MaxParts {
				break
			}
		}
		return
	}

	dec := p.decodeTransfer(mh, body, filename)
	lname := strings.ToLower(filename)
	switch {
	case mt == "message/rfc822" || mt == "message/global" || strings.HasSuffix(lname, ".eml"):
		p.readAttachedMessage(dec, mt, filename, depth, pm)
	case mt == "message/delivery-status" || mt == "message/global-delivery-status":
		data, _ := io.ReadAll(io.LimitReader(dec, 64<<10))
		pm.dsn = append(pm.dsn, parseDeliveryStatus(data)...)
		io.Copy(io.Discard, dec)
	case mt == "text/rfc822-headers" || mt == "text/global-headers":
		hr := readHeader(bufio.NewReader(io.LimitReader(dec, 256<<10)), 256<<10, 64<<10)
		gh := gomail.Header{Header: message.Header{Header: hr.header}}
		if id, err := gh.MessageID(); err == nil && id != "" {
			pm.reportID = id
		}
		io.Copy(io.Discard, dec)
	case strings.HasSuffix(lname, ".msg") || mt == "application/vnd.ms-outlook":
		n, _ := io.Copy(io.Discard, dec)
		if filename == "" {
			filename = "(unnamed .msg)"
		}
		pm.msg.Attachments = append(pm.msg.Attachments, Attachment{Filename: filename, ContentType: mt, Size: n, Unsupported: true})
		p.warn("attachment %q is an Outlook .msg file, which backstop cannot read: forward the original inline, or attach it as .eml", filename)
	case (mt == "text/plain" || mt == "text/html") && (root || disp != "attachment" && filename == ""):
		// A message whose whole body is text is read as text whatever
		// its disposition says: mutt rewrites an attached message's
		// header to "Content-Disposition: inline; filename=…".
		p.readText(dec, mt, params, pm)
	default:
		n, err := io.Copy(io.Discard, dec)
		if err != nil {
			p.warn("attachment %q: %v (its size is what could be decoded)", filename, err)
		}
		if n > largeAttachment {
			p.warn("attachment %q is %d MiB: measured, not read", filename, n>>20)
		}
		pm.msg.Attachments = append(pm.msg.Attachments, Attachment{Filename: filename, ContentType: mt, Size: n})
	}
}

// readText keeps a text part, decoded to UTF-8, up to MaxTextBytes.
func (p *parser) readText(r io.Reader, mt string, params map[string]string, pm *parsed) {
	max := p.lim.MaxTextBytes
	if budget := textBudgetFactor*p.lim.MaxTextBytes - p.textUsed; budget < max {
		max = budget
	}
	if max <= 0 {
		n, _ := io.Copy(io.Discard, r)
		p.warn("more than %d bytes of text in the message: a text part of %d bytes is not read", textBudgetFactor*p.lim.MaxTextBytes, n)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		p.warn("text part: %v (the text decoded before it is kept)", err)
	}
	if int64(len(data)) > max {
		data = data[:max]
		n, _ := io.Copy(io.Discard, r)
		p.warn("text part larger than %d bytes (%d more): the rest is not read", max, n+1)
	}
	p.textUsed += int64(len(data))
	data = bytes.ReplaceAll(data, []byte("\ufeff"), nil) // byte order marks, zero-width no-break spaces
	charset := params["charset"]
	if charset == "" && mt == "text/html" {
		charset = htmlCharset(data)
	}
	if mt == "text/plain" && isUTF8Label(charset) && !utf8.Valid(data) {
		data = p.recodeEncapsulated(data)
	}
	s, ok := decodeCharset(data, charset)
	if !ok {
		p.warn("unknown charset %q: text read as UTF-8 or Windows-1252 at best", charset)
	}
	if mt == "text/plain" {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		if strings.EqualFold(params["format"], "flowed") {
			s = decodeFlowed(s, strings.EqualFold(params["delsp"], "yes"))
		}
		pm.plain = append(pm.plain, s)
	} else {
		pm.html = append(pm.html, s)
	}
}

// isUTF8Label reports a charset label that means UTF-8 (or says nothing
// and is read as UTF-8).
func isUTF8Label(cs string) bool {
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return true
	}
	return false
}

// readAttachedMessage reads a message/rfc822 part or an attached .eml file.
func (p *parser) readAttachedMessage(r io.Reader, mt, filename string, depth int, pm *parsed) {
	cr := &countingReader{r: r}
	if depth+1 > p.lim.MaxDepth {
		p.warn("attached messages nested deeper than %d: the inner ones are not read", p.lim.MaxDepth)
		io.Copy(io.Discard, cr)
		pm.msg.Attachments = append(pm.msg.Attachments, Attachment{Filename: filename, ContentType: mt, Size: cr.n})
		return
	}
	raw := &rawCapture{r: cr, max: int(p.lim.MaxTextBytes)}
	var in io.Reader = raw
	if b64, ok := p.undeclaredBase64(raw, filename); ok {
		p.warn("attached message %q is in base64 but its part does not say so: decoded as base64", filename)
		capture := &rawCapture{r: b64, max: int(p.lim.MaxTextBytes)}
		raw, in = capture, capture
	} else {
		in = b64
	}
	sub := p.readMessage(in, depth+1)
	io.Copy(io.Discard, in)
	sub.raw = raw.buf.Bytes()
	if sub.noHeader {
		p.warn("attachment %q is not a mail message", filename)
	} else {
		pm.attached = append(pm.attached, sub)
	}
	pm.msg.Attachments = append(pm.msg.Attachments, Attachment{Filename: filename, ContentType: mt, Size: cr.n})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

var paramRe = regexp.MustCompile(`(?i)\b(boundary|charset|name|filename|format|delsp|report-type)\s*=\s*(?:"([^"]*)"|([^\s;]+))`)

// contentType reads Content-Type leniently: a header mime.ParseMediaType
// rejects still gives its media type and the usual parameters.
func contentType(h message.Header) (string, map[string]string) {
	v := h.Get("Content-Type")
	if strings.TrimSpace(v) == "" {
		return "text/plain", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
		params = lenientParams(v)
	}
	if !strings.Contains(mt, "/") {
		if mt == "text" || mt == "" {
			mt = "text/plain"
		} else {
			mt = "application/octet-stream"
		}
	}
	return mt, params
}

func contentDisposition(h message.Header) (string, map[string]string) {
	v := h.Get("Content-Disposition")
	if strings.TrimSpace(v) == "" {
		return "", map[string]string{}
	}
	d, params, err := mime.ParseMediaType(v)
	if err != nil {
		d = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
		params = lenientParams(v)
	}
	return d, params
}

func lenientParams(v string) map[string]string {
	params := map[string]string{}
	for _, m := range paramRe.FindAllStringSubmatch(v, -1) {
		k := strings.ToLower(m[1])
		if _, ok := params[k]; ok {
			continue
		}
		if m[2] != "" {
			params[k] = m[2]
		} else {
			params[k] = m[3]
		}
	}
	return params
}

// decodeTransfer undoes the Content-Transfer-Encoding leniently: invalid
// base64 characters are skipped and broken quoted-printable escapes kept
// as they are, with a warning; an unknown encoding gives the raw bytes.
func (p *parser) decodeTransfer(h message.Header, body io.Reader, filename string) io.Reader {
	enc := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	what := "a part"
	if filename != "" {
		what = fmt.Sprintf("%q", filename)
	}
	switch enc {
	case "", "7bit", "8bit", "binary":
		return body
	case "base64":
		return newBase64Reader(body, func(msg string) { p.warn("invalid base64 in %s: %s", what, msg) })
	case "quoted-printable":
		return newQPReader(body)
	default:
		p.warn("unknown Content-Transfer-Encoding %q in %s: read as it is", enc, what)
		return body
	}
}

// fillHeaders sets a Message's own header fields.
func fillHeaders(m *Message, h gomail.Header) {
	if id, err := h.MessageID(); err == nil {
		m.MessageID = toUTF8(id)
	} else {
		m.MessageID = strings.Trim(strings.TrimSpace(toUTF8(h.Get("Message-Id"))), "<>")
	}
	m.InReplyTo = msgIDs(h, "In-Reply-To")
	m.References = msgIDs(h, "References")
	if from := headerAddresses(h, "From"); len(from) > 0 {
		m.From = from[0]
	}
	if s := headerAddresses(h, "Sender"); len(s) > 0 {
		m.Sender = &s[0]
	}
	m.ReplyTo = headerAddresses(h, "Reply-To")
	m.To = headerAddresses(h, "To")
	m.Cc = headerAddresses(h, "Cc")
	for _, k := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range h.Values(k) {
			if v = strings.Trim(strings.TrimSpace(toUTF8(v)), "<>"); v != "" {
				m.DeliveredTo = append(m.DeliveredTo, v)
			}
		}
	}
	if rp := h.Values("Return-Path"); len(rp) > 0 {
		m.ReturnPath = strings.TrimSpace(strings.Trim(strings.TrimSpace(toUTF8(rp[0])), "<>"))
	}
	if raw := strings.TrimSpace(h.Get("Date")); raw != "" {
		if t, err := headerDate(h); err == nil {
			m.Date = &t
		} else if t, ok := parseLooseDate(toUTF8(raw), time.UTC, true); ok {
			m.Date = &t
		}
	}
	if raw := h.Get("Subject"); brokenWordRe.MatchString(raw) {
		m.Subject = toUTF8(decodeWords(raw))
	} else if s, err := h.Subject(); err == nil {
		m.Subject = toUTF8(s)
	} else {
		m.Subject = toUTF8(decodeWords(h.Get("Subject")))
	}
	m.AuthResults = h.Values("Authentication-Results")
	for i, v := range m.AuthResults {
		m.AuthResults[i] = toUTF8(v)
	}
}

// rfc5322Date is the layout of nearly every Date header ("Mon, 6 Jan 2025
// 09:14:00 +0100"). net/mail.ParseDate reads it too, with the first layout
// it tries that has a day name, after 24 without one that fail (each an
// allocated error); no other layout reads the same text.
const rfc5322Date = "Mon, 2 Jan 2006 15:04:05 -0700"

// headerDate is h.Date(), with the usual layout tried first.
func headerDate(h gomail.Header) (time.Time, error) {
	if v := h.Get("Date"); len(v) > 4 && v[3] == ',' {
		if t, err := time.Parse(rfc5322Date, v); err == nil {
			return t, nil
		}
	}
	return h.Date()
}

var msgIDRe = regexp.MustCompile(`<([^<>\s]+)>`)

func msgIDs(h gomail.Header, key string) []string {
	out := []string{}
	if ids, err := h.MsgIDList(key); err == nil {
		for _, id := range ids {
			out = append(out, toUTF8(id))
		}
		return out
	}
	for _, m := range msgIDRe.FindAllStringSubmatch(h.Get(key), 200) {
		out = append(out, toUTF8(m[1]))
	}
	return out
}

// location is the zone a message's own Date was written in: forwarding
// clients print the original's date in the forwarder's zone, so dates
// without a zone are read in it.
func location(m *Message) *time.Location {
	if m.Date == nil {
		return time.UTC
	}
	_, off := m.Date.Zone()
	return time.FixedZone("", off)
}

// plainText is the text of a parsed message's inline text/plain parts.
func (pm *parsed) plainText() string {
	return strings.TrimSpace(removeInvisible(strings.Join(pm.plain, "\n")))
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown sender"
	}
	return s
}

// htmlText is the text of its inline text/html parts, converted.
func (pm *parsed) htmlText() string {
	if len(pm.html) == 0 {
		return ""
	}
	parts := make([]string, 0, len(pm.html))
	for _, h := range pm.html {
		parts = append(parts, HTMLToText(h))
	}
	return strings.TrimSpace(removeInvisible(strings.Join(parts, "\n\n")))
}

// analyseTop decides the kind of the top-level message and fills its note,
// originals and reply text.
func (p *parser) analyseTop(pm *parsed) {
	m := pm.msg
	m.Auto = detectAuto(pm)
	loc := location(m)
	max := p.lim.MaxOriginals

	text := p.unwrapEncapsulated(pm.plainText(), pm.depth)
	htmlText := ""
	m.how.source = "the text/plain part"
	if text == "" {
		text = pm.htmlText()
		m.how.source = "the text/html part, converted (no text/plain part)"
		if len(pm.html) == 0 {
			m.how.source = "none (no text part)"
		}
	}
	m.Text = text
	subj := subjectKind(m.Subject)

	th := splitThread(text, false, loc, max)
	if (th.first == nil || !th.first.fromBlock) && len(pm.plain) > 0 && len(pm.html) > 0 {
		// The plain text shows no forward: the HTML's structure may.
		htmlText = pm.htmlText()
		if hth := splitThread(htmlText, false, loc, max); hth.first != nil && hth.first.fromBlock {
			th, text = hth, htmlText
			m.Text = text
			m.how.source = "the text/html part, converted (its structure shows a forwarded header block the text/plain part does not)"
		}
	}

	forward := false
	if th.first != nil && th.first.fromBlock {
		switch {
		case th.first.forward, subj == KindForward:
			forward = true
		case subj == KindReply, len(m.InReplyTo) > 0:
			forward = false
		default:
			forward = true
		}
	} else if subj == KindForward && pm.report == "" {
		// A forward written as a quote ("On … wrote:") with no header block.
		if qth := splitThread(text, true, loc, max); len(qth.originals) > 0 {
			th, forward = qth, true
		}
	}
	if forward {
		m.Note = stripSignature(th.lead)
		if len(th.originals) > 0 && th.originals[0].Subject == "" && !th.first.fromBlock {
			// A forward written as a reply ("On …, X wrote:" under
			// "FW: …"): the original's subject is the forward's own.
			th.originals[0].Subject = baseSubject(m.Subject)
			th.originals[0].rule += "; subject taken from the forward's own subject"
		}
		m.Originals = append(m.Originals, th.originals...)
		if th.truncated {
			p.warn("more than %d forwarded messages: the rest are not extracted", max)
		}
	}
	if pm.report == "" && len(pm.attached) > 0 {
		if !forward {
			m.Note = stripSignature(th.lead)
		}
		for _, sub := range pm.attached {
			m.Originals = p.appendAttached(m.Originals, sub)
		}
	}
	readableBodies(m.Originals)
	m.ReplyText, m.how.cut = extractReply(text)
	m.ReplyHTML = pm.otherReply(text, htmlText) // visible.go
	settleAmbiguousDates(m.Originals, m.Date)

	switch {
	case len(m.Originals) > 0:
		m.Kind = KindForward
		m.how.kind = "it carries forwarded originals"
		if !forward && th.first != nil && th.first.fromBlock {
			m.how.kind += "; the header block in its text was not taken as a forward: the message is a reply (subject prefix or In-Reply-To)"
		}
	case hasUnsupportedMessage(m) && pm.report == "" && m.Auto.Reason == "":
		// An attached message backstop cannot read (an Outlook .msg) is
		// a forward all the same: the incident shows what is missing.
		m.Kind = KindForward
		m.Note = stripSignature(th.lead)
		m.how.kind = "an attached message backstop cannot read"
	case pm.report != "" || m.Auto.Bounce:
		m.Kind = KindOther
		m.how.kind = "a delivery report"
	case len(m.InReplyTo) > 0 || len(m.References) > 0 || subj == KindReply:
		m.Kind = KindReply
		m.how.kind = "In-Reply-To, References or a reply subject prefix"
	default:
		if qth := splitThread(text, true, loc, 1); qth.first != nil || hasQuotedLines(text) {
			m.Kind = KindReply
			m.how.kind = "a quote header or quoted lines in its text"
		}
	}
	m.how.notes = append(m.how.notes, p.notes...)
}

// settleAmbiguousDates rereads numeric dates such as "06/01/2025", which
// are day-first or month-first by the writer's locale, with the other
// order when the first reading puts a message after the one that forwards
// or quotes it: a message cannot be older than its own forward. originals
// are outermost first, each bounded by the one before (the forward itself
// for the first).
func settleAmbiguousDates(originals []Original, forwarded *time.Time) {
	const slack = 36 * time.Hour // clock skew and unknown time zones
	limit := forwarded
	for i := range originals {
		o := &originals[i]
		if o.Date != nil && limit != nil && o.Date.After(limit.Add(slack)) && strings.ContainsAny(o.DateRaw, "/.-") {
			for _, monthFirst := range []bool{false, true} {
				if t, ok := parseLooseDate(o.DateRaw, o.Date.Location(), monthFirst); ok && !t.After(limit.Add(slack)) {
					o.Date = &t
					break
				}
			}
		}
		if o.Date != nil {
			limit = o.Date
		}
	}
}

// appendAttached adds an attached message and the messages its text
// forwards or quotes to the originals, within MaxOriginals.
func (p *parser) appendAttached(list []Original, sub *parsed) []Original {
	if len(list) >= p.lim.MaxOriginals {
		p.warn("more than %d forwarded messages: the rest are not extracted", p.lim.MaxOriginals)
		return list
	}
	sm := sub.msg
	o := newOriginal()
	o.From = sm.From
	o.To = sm.To
	o.Cc = sm.Cc
	o.Subject = sm.Subject
	o.Date = sm.Date
	o.DateRaw = toUTF8(strings.TrimSpace(sub.header.Get("Date")))
	o.MessageID = sm.MessageID
	o.rule = "attached message (a message/rfc822 part or .eml file)"
	text := p.unwrapEncapsulated(sub.plainText(), sub.depth)
	if text == "" {
		text = sub.htmlText()
	}
	th := splitThread(text, true, location(sm), p.lim.MaxOriginals-len(list)-1)
	if th.truncated {
		p.warn("more than %d forwarded messages: the rest are not extracted", p.lim.MaxOriginals)
	}
	o.Body = th.lead
	if strings.TrimSpace(text) == "" && len(sub.attached) == 0 && len(sm.Attachments) == 0 {
		// Evidence is never emptier than the message: a body that
		// decodes to nothing while its part has bytes is kept raw.
		if raw := rawBody(sub.raw); raw != "" {
			o.Body = raw
			o.rule += "; its body decoded to nothing, its raw part is the evidence"
			p.warn("the text of the attached message from %s could not be read: its raw part is kept as evidence", orUnknown(o.From.Address))
		}
	}
	list = append(list, o)
	list = append(list, th.originals...)
	for _, a := range sub.attached {
		list = p.appendAttached(list, a)
	}
	return list
}

// hasUnsupportedMessage reports an attachment backstop cannot read.
func hasUnsupportedMessage(m *Message) bool {
	for _, a := range m.Attachments {
		if a.Unsupported {
			return true
		}
	}
	return false
}

// hasQuotedLines reports whether text has a non-blank "> " line.
func hasQuotedLines(text string) bool {
	for _, l := range splitLines(text) {
		if l.depth > 0 && !isBlank(l.text) {
			return true
		}
	}
	return false
}

// parseDeliveryStatus reads the per-recipient fields of a
// message/delivery-status body (RFC 3464 section 2.3) and returns the
// recipients whose delivery did not succeed.
func parseDeliveryStatus(data []byte) []DeliveryStatus {
	var out []DeliveryStatus
	text := strings.ReplaceAll(toUTF8(string(data)), "\r\n", "\n")
	for _, block := range strings.Split(text, "\n\n") {
		fields := map[string]string{}
		var last string
		for _, l := range strings.Split(block, "\n") {
			if l == "" {
				continue
			}
			if (l[0] == ' ' || l[0] == '\t') && last != "" {
				fields[last] += " " + strings.TrimSpace(l)
				continue
			}
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
		rcpt := fields["final-recipient"]
		if rcpt == "" {
			rcpt = fields["original-recipient"]
		}
		if rcpt == "" {
			continue
		}
		if _, addr, ok := strings.Cut(rcpt, ";"); ok {
			rcpt = addr
		}
		action := strings.ToLower(fields["action"])
		if i := strings.IndexAny(action, " ("); i > 0 {
			action = action[:i]
		}
		if action == "delivered" || action == "relayed" || action == "expanded" {
			continue
		}
		status := fields["status"]
		if i := strings.IndexAny(status, " ("); i > 0 {
			status = status[:i]
		}
		out = append(out, DeliveryStatus{Recipient: strings.Trim(strings.TrimSpace(rcpt), "<>"), Action: action, Status: status})
		if len(out) >= 100 {
			break
		}
	}
	return out
}
