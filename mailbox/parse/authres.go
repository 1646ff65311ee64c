package parse

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// AuthResult is what one Authentication-Results header (RFC 8601) says
// about a message: which server checked it and which checks passed. Whether
// to believe it depends on who the server is: only the receiving servers of
// the organisation itself are trustworthy (RFC 8601 section 5), which is the
// caller's policy.
type AuthResult struct {
	// ServID is the authserv-id: the server that added the header.
	ServID string
	// DMARCPass lists the header.from domains for which dmarc=pass.
	DMARCPass []string
	// DKIMPass lists the header.d domains for which dkim=pass.
	DKIMPass []string
	// DMARCFail and DKIMFail list the domains with any other result
	// (fail, none, temperror, …): a reader that believes several headers
	// needs them to see that two disagree.
	DMARCFail []string
	DKIMFail  []string
	// SMTPAuth is the smtp.auth identity of an auth=pass result.
	SMTPAuth string
}

// ParseAuthResults reads Authentication-Results header values, in order
// (top first). A value that cannot be parsed gives an entry with an empty
// ServID, so that it keeps its place: an unreadable header proves nothing,
// and no header below it can be believed either (RFC 8601 section 5).
func ParseAuthResults(values []string) []AuthResult {
	var out []AuthResult
	for _, v := range values {
		id, results, err := authres.Parse(stripComments(v))
		if id == "" || (err != nil && len(results) == 0) {
			out = append(out, AuthResult{})
			continue
		}
		ar := AuthResult{ServID: strings.ToLower(id)}
		for _, r := range results {
			switch r := r.(type) {
			case *authres.DMARCResult:
				if r.Value == authres.ResultPass && r.From != "" {
					ar.DMARCPass = append(ar.DMARCPass, strings.ToLower(r.From))
				} else if r.From != "" {
					ar.DMARCFail = append(ar.DMARCFail, strings.ToLower(r.From))
				}
			case *authres.DKIMResult:
				if r.Value == authres.ResultPass && r.Domain != "" {
					ar.DKIMPass = append(ar.DKIMPass, strings.ToLower(r.Domain))
				} else if r.Domain != "" {
					ar.DKIMFail = append(ar.DKIMFail, strings.ToLower(r.Domain))
				}
			case *authres.AuthResult:
				if r.Value == authres.ResultPass {
					ar.SMTPAuth = r.Auth
				}
			}
		}
		out = append(out, ar)
	}
	return out
}

// stripComments removes RFC 5322 comments (section 3.2.2), which may hold
// semicolons and "key=value" look-alikes, and unfolds the header.
func stripComments(v string) string {
	var b strings.Builder
	depth := 0
	quoted := false
	escaped := false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				b.WriteRune(r)
			}
			continue
		case r == '\\':
			escaped = true
			if depth == 0 {
				b.WriteRune(r)
			}
			continue
		case quoted:
			if r == '"' {
				quoted = false
			}
		case r == '"' && depth == 0:
			quoted = true
		case r == '(':
			depth++
			continue
		case r == ')' && depth > 0:
			depth--
			if depth == 0 {
				b.WriteByte(' ')
			}
			continue
		}
		if depth > 0 {
			continue
		}
		if r == '\r' || r == '\n' || r == '\t' {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}
