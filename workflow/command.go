package workflow

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Command verbs, as leads and reporters write them (any case).
const (
	CmdSever    = "SEVER"
	CmdBoundary = "BOUNDARY"
	CmdEscalate = "ESCALATE"
	CmdApology  = "APOLOGY"
	CmdResolve  = "RESOLVE"
	CmdAssign   = "ASSIGN"
	CmdHandoff  = "HANDOFF"
	CmdNote     = "NOTE"
	CmdStatus   = "STATUS"
	CmdShow     = "SHOW"
	CmdCancel   = "CANCEL"
	CmdApprove  = "APPROVE"
	CmdResend   = "RESEND"
	CmdReopen   = "REOPEN"
	CmdClose    = "CLOSE"
	CmdHelp     = "HELP"
	// Time's commands (cmd_time.go).
	CmdDigest    = "DIGEST"
	CmdNoCheckin = "NO-CHECKIN"
	CmdCustomer  = "CUSTOMER"
)

// Command is one command line of a reply.
type Command struct {
	Verb string // canonical verb (CmdSever, …); "" when the line is not a command
	Word string // the word as written
	Args string // the rest of the line, trimmed
	Line string // the line as read, trimmed and at most maxCommandLine bytes
	// Lookalike is the command a word written with non-ASCII letters
	// reads as once normalised and case-folded ("ſever" → SEVER). Such a
	// word is never carried out (Verb is ""): it is refused with a
	// receipt that says why.
	Lookalike string
}

// MaxCommands is how many commands one reply may carry; the rest are
// refused.
const MaxCommands = 10

const maxCommandLine = 200

// ParseCommands reads the commands at the top of a reply's own text (never
// its quoted part: the caller passes the reply text only). Each non-empty
// line from the top whose first word is a command or an alias (any case,
// trailing ":", ".", "!" or "," ignored, "*bold*" markers too) is a
// command; reading stops at the first line that is not. When the first
// non-empty line is not a command, the result is one Command with an
// empty Verb, carrying that line. It returns at most MaxCommands commands,
// and more reports whether further command lines were left unread. Empty
// text gives nothing.
func ParseCommands(text string) (cmds []Command, more bool) {
	for raw := range strings.SplitSeq(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line := strings.TrimSpace(strings.Trim(raw, "\u00a0\ufeff"))
		if strings.HasPrefix(line, ">") {
			break // quoted text starts: never read from it
		}
		if line == "" {
			continue
		}
		c, ok := parseCommandLine(line)
		if !ok {
			if c.Lookalike != "" && len(cmds) < MaxCommands {
				cmds = append(cmds, c)
			} else if len(cmds) == 0 {
				cmds = append(cmds, Command{Line: clip(line)})
			}
			break
		}
		if len(cmds) == MaxCommands {
			more = true
			break
		}
		cmds = append(cmds, c)
	}
	return cmds, more
}

// parseCommandLine reads one line as a command.
func parseCommandLine(line string) (Command, bool) {
	word, rest, _ := strings.Cut(line, " ")
	if i := strings.IndexFunc(word, unicode.IsSpace); i >= 0 {
		word, rest = word[:i], word[i:]+" "+rest
	}
	rest = strings.TrimSpace(rest)
	w := strings.Trim(word, "*_")
	if w != "?" {
		w = strings.TrimRight(w, ":.!,;")
	}
	verb, ok := lookupVerb(w)
	if !ok {
		return Command{Word: w, Line: clip(line), Lookalike: lookalikeVerb(w)}, false
	}
	spec := specOf(verb)
	if rest != "" && !spec.args {
		return Command{}, false
	}
	c := Command{Verb: verb, Word: w, Args: rest, Line: clip(line)}
	switch strings.ToUpper(w) {
	case "TAKE", "MINE":
		if rest != "" {
			return Command{}, false
		}
		c.Args = "me"
	}
	return c, true
}

// clip bounds a line kept in events and receipts.
func clip(s string) string {
	if len(s) <= maxCommandLine {
		return s
	}
	n := maxCommandLine
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// lookupVerb finds the command a word names. Only words written in ASCII
// are commands: Unicode case folding maps other letters to ASCII ones (ſ,
// U+017F, upper-cases to S; the Kelvin sign K to K), so that a word a
// person reads as something else could otherwise be carried out.
func lookupVerb(word string) (string, bool) {
	for i := 0; i < len(word); i++ {
		if word[i] >= utf8.RuneSelf {
			return "", false
		}
	}
	up := strings.ToUpper(word)
	for _, c := range commandTable {
		if up == c.Verb || slices.Contains(c.Aliases, up) {
			return c.Verb, true
		}
	}
	return "", false
}

// lookalikeVerb returns the command a non-ASCII word reads as after NFKC
// normalisation (UAX #15) and Unicode case mapping, without invisible
// format characters, or "" when it reads as none.
func lookalikeVerb(word string) string {
	ascii := true
	for i := 0; i < len(word); i++ {
		if word[i] >= utf8.RuneSelf {
			ascii = false
		}
	}
	if ascii {
		return ""
	}
	w := strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, norm.NFKD.String(word))
	for _, cand := range []string{strings.ToUpper(norm.NFKC.String(word)), strings.ToUpper(w), strings.ToUpper(strings.ToLower(w))} {
		up := cand
		for _, c := range commandTable {
			if up == c.Verb || slices.Contains(c.Aliases, up) {
				return c.Verb
			}
		}
	}
	return ""
}
