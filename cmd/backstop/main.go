// Command backstop watches an escalations mailbox, turns forwarded abusive
// customer conversations into private incidents, and lets leads act on them
// by replying to its emails.
//
// Usage:
//
//	backstop serve -config FILE          run the daemon
//	backstop demo                         run on embedded IMAP/SMTP servers, play a scenario
//	backstop digest --preview [--week W]  print the weekly digest as it would be sent
//	backstop check-config -config FILE    validate a configuration [-connect]
//	backstop incidents [show INC-n]       list incidents, or show one with its audit trail
//	backstop parse [-explain] FILE.eml|-  print how a message is read, as JSON (-explain: why)
//	backstop severed [-format csv|json]   list severed customers, for a block list
//	backstop templates list|preview NAME  list the templates, or render one as it would be sent
//	backstop keygen                       print a new storage key
//	backstop rotate-key -config FILE      re-encrypt under a new data key, while serve runs
//	backstop verify -config FILE          check the audit trail's hash chain and evidence hashes
//	backstop purge -config FILE [-dry-run] apply retention now
//	backstop export INC-n -out FILE.zip   write an incident for HR or legal
//	backstop version                      print the version and VCS revision
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	usage string
	help  string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"serve":        {"serve -config FILE", "run the daemon until SIGINT/SIGTERM", runServe},
	"digest":       {"digest --preview [--week YYYY-Www] [-config FILE] [-html]", "print the weekly digest exactly as it would be sent, without sending it", runDigest},
	"demo":         {"demo [-keep=false] [-hold 15s] [-v]", "run on embedded loopback IMAP/SMTP servers and play a scenario", runDemo},
	"check-config": {"check-config -config FILE [-connect]", "validate a configuration; -connect also logs in to IMAP and SMTP", runCheckConfig},
	"incidents":    {"incidents [-config FILE | -db FILE] [-state S] [-since D] [-waiting] [show INC-n]", "list incidents (-state open or reported,acknowledged; -since 2026-03-01 or 7d; -waiting: no lead has acted yet), or show one with its audit trail", runIncidents},
	"parse":        {"parse [-explain] FILE.eml|-", "print how backstop reads a message, as JSON; -explain says which rule found each original and where the reply was cut", runParse},
	"severed":      {"severed [-config FILE] [-format csv|json]", "list severed customers and organisations, for a block list", runSevered},
	"keygen":       {"keygen", "print a new storage key (32 random bytes, base64) for storage.key_file", runKeygen},
	"rotate-key":   {"rotate-key -config FILE [-new-key-file FILE]", "re-encrypt the database under a new data key (and storage key), while serve runs; run again to resume", runRotateKey},
	"verify":       {"verify -config FILE", "check the audit trail's hash chains and the evidence hashes; names the first broken link", runVerify},
	"purge":        {"purge -config FILE [-dry-run]", "apply the retention section now (serve does it daily)", runPurge},
	"export":       {"export -config FILE INC-n -out FILE.zip", "write an incident for HR or legal: originals, sent emails, audit trail with its hash chain, SHA-256 manifest", runExport},
	"templates":    {"templates list | preview NAME [-incident INC-n] [-raw]", "list the email templates, or render one exactly as it would be sent", runTemplates},
	"version":      {"version", "print the version and the VCS revision it was built from", runVersion},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "backstop: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "backstop %s: %v\nusage: backstop %s\n", args[0], err, cmd.usage)
			return 2
		}
		fmt.Fprintf(stderr, "backstop %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "backstop stands behind support teams when a customer turns abusive.")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  backstop %s\n      %s\n", commands[n].usage, commands[n].help)
	}
	fmt.Fprintln(w, "\nRun `backstop demo` to watch it work on embedded servers, with no mail account.")
}

// usageError is a mistake in a command's arguments.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// newFlags returns a FlagSet for a subcommand that reports to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("backstop "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseInterleaved parses fs from args where flags may also follow the
// positional words (templates preview NAME -incident INC-3, export INC-3
// -out FILE.zip) and returns the words in order. The FlagSet decides which
// flags take a value, so a boolean flag never swallows the next word.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newLogger builds the daemon's logger from the log section.
func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(cfg.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
