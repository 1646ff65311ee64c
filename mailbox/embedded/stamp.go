package embedded

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
)

// stampInfo is what a delivery records about the transaction.
type stampInfo struct {
	from, rcpt string
	user       string // authenticated account, "" without AUTH
	helo       string
	remote     string // ip:port
	at         time.Time
}

// stamp returns raw as the escalations mailbox receives it: with
// Return-Path (RFC 5321 section 4.4), Delivered-To, a Received line and
// this server's Authentication-Results (RFC 8601) on top, and without any
// Authentication-Results that claims this server's authserv-id, which only
// a forger can have written (RFC 8601 section 5). The rest of the message
// is unchanged.
func (s *Server) stamp(raw []byte, in stampInfo) []byte {
	fields, body := splitHeader(raw)
	var kept [][]byte
	var fromValues []string
	for _, f := range fields {
		name, value := fieldNameValue(f)
		switch {
		case strings.EqualFold(name, "Authentication-Results") && strings.EqualFold(authServID(value), s.cfg.AuthServID):
			continue // forged
		case strings.EqualFold(name, "From"):
			fromValues = append(fromValues, value)
		}
		kept = append(kept, f)
	}

	var b bytes.Buffer
	b.Grow(len(raw) + 512)
	b.WriteString("Return-Path: <" + in.from + ">\r\n")
	b.WriteString("Delivered-To: " + in.rcpt + "\r\n")
	b.WriteString(s.received(in))
	b.WriteString(s.authResults(in.user, fromValues))
	for _, f := range kept {
		b.Write(f)
	}
	b.Write(body)
	return b.Bytes()
}

// received formats a Received field (RFC 5321 section 4.4), with the
// protocol names of RFC 3848 (ESMTPA when authenticated).
func (s *Server) received(in stampInfo) string {
	ip := in.remote
	if host, _, err := net.SplitHostPort(in.remote); err == nil {
		ip = host
	}
	with := "ESMTP"
	if in.user != "" {
		with = "ESMTPA"
	}
	var id [6]byte
	rand.Read(id[:])
	helo := in.helo
	if helo == "" {
		helo = "unknown"
	}
	return "Received: from " + helo + " ([" + ip + "])\r\n" +
		"\tby " + s.cfg.Domain + " (backstop embedded) with " + with + " id " + hex.EncodeToString(id[:]) + "\r\n" +
		"\tfor <" + in.rcpt + ">; " + in.at.Format(time.RFC1123Z) + "\r\n"
}

// authResults formats this server's verdict (RFC 8601): when the session
// authenticated as the account named by the one From address, the message
// passes DMARC and DKIM for the From domain, as it would with a real
// server signing its users' mail; otherwise DMARC fails for mail claiming
// this server's domain and is "none" for other domains.
func (s *Server) authResults(user string, fromValues []string) string {
	from := ""
	if len(fromValues) == 1 { // RFC 7489 section 6.6.1: exactly one From
		dec := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: message.CharsetReader}}
		if l, err := dec.ParseList(fromValues[0]); err == nil && len(l) == 1 {
			from = l[0].Address
		}
	}
	_, fromDomain, _ := strings.Cut(from, "@")
	fromDomain = strings.ToLower(fromDomain)

	results := []string{s.cfg.AuthServID + ";"}
	if user != "" {
		results = append(results, "auth=pass smtp.auth="+pvalue(user)+";")
	}
	switch {
	case from == "":
		results = append(results, "dmarc=permerror;")
	case user != "" && strings.EqualFold(user, from):
		results = append(results,
			"dmarc=pass header.from="+pvalue(fromDomain)+";",
			"dkim=pass header.d="+pvalue(fromDomain)+";")
	case fromDomain == s.domain:
		results = append(results, "dmarc=fail header.from="+pvalue(fromDomain)+";")
	default:
		results = append(results, "dmarc=none header.from="+pvalue(fromDomain)+";")
	}
	last := len(results) - 1
	results[last] = strings.TrimSuffix(results[last], ";")
	return "Authentication-Results: " + strings.Join(results, "\r\n\t") + "\r\n"
}

// pvalue quotes v when it is not a plain token or address (RFC 8601
// section 2.2).
func pvalue(v string) string {
	for _, r := range v {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>,;:\\\"[]?=", r) {
			return `"` + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `"`, `\"`) + `"`
		}
	}
	return v
}

// authServID returns the authserv-id of an Authentication-Results value:
// the first token after any comments, before the version or the ';'
// (RFC 8601 section 2.2).
func authServID(value string) string {
	v := strings.TrimSpace(value)
	for strings.HasPrefix(v, "(") {
		depth, i := 0, 0
		for ; i < len(v); i++ {
			if v[i] == '(' {
				depth++
			} else if v[i] == ')' {
				depth--
				if depth == 0 {
					break
				}
			}
		}
		v = strings.TrimSpace(v[min(i+1, len(v)):])
	}
	if strings.HasPrefix(v, `"`) {
		if end := strings.IndexByte(v[1:], '"'); end >= 0 {
			return v[1 : end+1]
		}
	}
	end := strings.IndexAny(v, " \t\r\n;(")
	if end < 0 {
		return v
	}
	return v[:end]
}

// splitHeader splits raw into its header fields (each with its
// continuation lines and line end, byte for byte) and the rest: the empty
// line and the body. A message without an empty line is all header.
func splitHeader(raw []byte) (fields [][]byte, rest []byte) {
	i := 0
	for i < len(raw) {
		lineEnd := bytes.IndexByte(raw[i:], '\n')
		var line []byte
		if lineEnd < 0 {
			line = raw[i:]
		} else {
			line = raw[i : i+lineEnd+1]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return fields, raw[i:] // the empty line ends the header
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			last := fields[len(fields)-1]
			fields[len(fields)-1] = raw[i-len(last) : i+len(line)]
		} else {
			fields = append(fields, line)
		}
		i += len(line)
	}
	return fields, nil
}

// fieldNameValue splits a raw field into its name and its unfolded value.
func fieldNameValue(f []byte) (name, value string) {
	n, v, ok := bytes.Cut(f, []byte(":"))
	if !ok {
		return "", ""
	}
	unfolded := strings.NewReplacer("\r\n", "", "\n", "").Replace(string(v))
	return strings.TrimSpace(string(n)), strings.TrimSpace(unfolded)
}
