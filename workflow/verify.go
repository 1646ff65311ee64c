package workflow

import (
	"fmt"
	"slices"
	"strings"
)

// authentication is what backstop could establish about who sent a reply.
type authentication struct {
	ok     bool
	token  bool   // a reply token for this incident and this sender
	domain bool   // a trusted Authentication-Results shows DMARC or aligned DKIM passing
	why    string // when !ok: what was missing, for the leads and the audit trail
	how    string // when ok: what proved it, for the audit trail
}

// authenticate checks the sender of h's reply against the policy
// (Config.Verify) for incident:
//
//   - token: a reply token found in the To, Cc or Delivered-To address
//     (local+TOKEN@domain) or in an In-Reply-To or References Message-ID
//     (bs.TOKEN.…@domain) was issued for this incident to the From address
//     (HMAC, compared in constant time). A token issued to someone else, or
//     for another incident, proves nothing.
//   - domain: an Authentication-Results header added by a trusted
//     authserv-id (Config.TrustedAuthServIDs) shows dmarc=pass for the From
//     domain, or dkim=pass with the From domain as header.d. Headers from
//     any other authserv-id are ignored, however many there are (RFC 8601
//     section 5: only the organisation's own servers are believed).
func (h *handling) authenticate(incident int64) authentication {
	d := h.d
	var a authentication
	sender := h.sender
	if !isAddress(sender) {
		a.why = "the message has no usable From address"
		return a
	}
	a.token = h.hasToken(incident, sender)
	a.domain = d.domainPasses(h.in.Auth, domainOf(sender))

	var missing []string
	tokenWhy := fmt.Sprintf("it did not answer an email backstop sent to %s about %s (no valid reply token for that address)", sender, refOrNone(incident))
	domainWhy := fmt.Sprintf("no Authentication-Results header from a trusted server (%s) shows DMARC or DKIM passing for %s",
		strings.Join(d.cfg.TrustedAuthServIDs, ", "), domainOf(sender))
	switch d.cfg.Verify {
	case VerifyByToken:
		a.ok = a.token
		if !a.token {
			missing = append(missing, tokenWhy)
		}
		a.how = "reply token"
	case VerifyByDomain:
		a.ok = a.domain
		if !a.domain {
			missing = append(missing, domainWhy)
		}
		a.how = "domain authentication"
	default:
		a.ok = a.token && a.domain
		if !a.token {
			missing = append(missing, tokenWhy)
		}
		if !a.domain {
			missing = append(missing, domainWhy)
		}
		a.how = "reply token and domain authentication"
	}
	if !a.ok {
		a.how = ""
		a.why = "the sender could not be verified: " + strings.Join(missing, "; and ")
	}
	return a
}

func refOrNone(incident int64) string {
	if incident == 0 {
		return "no incident"
	}
	return Ref(incident)
}

// hasToken reports whether the reply carries a token issued for incident
// to sender.
func (h *handling) hasToken(incident int64, sender string) bool {
	in := h.in
	var toks []string
	for _, a := range in.recipients() {
		if t, ok := tokenFromAddress(h.d.cfg.Escalations, a); ok {
			toks = append(toks, t)
		}
	}
	for _, id := range slices.Concat(in.InReplyTo, in.References) {
		if t, ok := tokenFromMessageID(id, h.d.domain); ok {
			toks = append(toks, t)
		}
	}
	found := false
	for _, t := range toks {
		// Check every candidate (no early exit), each in constant time.
		if id, ok := VerifyToken(h.d.cfg.Secret, t, sender); ok && id == incident {
			found = true
		}
	}
	return found
}

// domainPasses reports whether the trusted Authentication-Results headers
// show DMARC passing for domain, or DKIM passing with domain as header.d,
// and none of them says otherwise. Only the headers at the top of the
// message are believed, down to the first that is not from a trusted
// authserv-id (RFC 8601 sections 5 and 7.1: a receiving server adds its
// header above those it received, so anything below a foreign header may
// have been written by the sender). Trusted headers that disagree about
// the domain (one pass, another fail) mean not verified.
func (d *Desk) domainPasses(results []AuthResult, domain string) bool {
	if domain == "" {
		return false
	}
	pass, fail := false, false
	for _, r := range results {
		if !d.trusted[lower(r.ServID)] {
			break
		}
		p := slices.Contains(r.DMARCPass, domain) || slices.Contains(r.DKIMPass, domain)
		f := slices.Contains(r.DMARCFail, domain) || (!p && slices.Contains(r.DKIMFail, domain))
		pass = pass || p
		fail = fail || f
	}
	return pass && !fail
}
