package workflow

import (
	"strings"
	"unicode"
	"unicode/utf8"
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
)

// Command is one command line of a reply.
type Command struct {
	Verb string // canonical verb (CmdSever, …); "" when the line is not a command
	Word string // the word as written
	Args string // the rest of the line, trimmed
	Line string // the line as read, trimmed and at most maxCommandLine bytes
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
			if len(cmds) == 0 {
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
		return Command{}, false
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
