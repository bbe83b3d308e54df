// Command portcullis is the Portcullis API gateway: run it, validate a
// config, or print its version. This file only parses the command line and
// wires packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/runtimetune"
	"github.com/portcullis/portcullis/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Portcullis: a secure API gateway.

Usage:
  portcullis <command> [flags]

Commands:
  run        serve with a config file
  validate   check a config file and exit 0 (valid) or 1 (invalid)
  version    print the version
  token      mint a test JWT (HS256/RS256)
  keys       generate an API key and the hash for the config
  hash-password
             hash a password for a basic credential
  certs dev  create a local CA and certificates for trying TLS and mTLS
  admin      manage consumers, keys, bans and tokens through the admin API;
             "admin bootstrap" creates the first admin token

Run "portcullis <command> --help" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "version":
		return cmdVersion(args[1:], stdout, stderr)
	case "token":
		return cmdToken(args[1:], stdout, stderr)
	case "keys":
		return cmdKeys(args[1:], stdout, stderr)
	case "hash-password":
		return cmdHashPassword(args[1:], stdout, stderr)
	case "admin":
		return cmdAdmin(args[1:], stdout, stderr)
	case "certs":
		return cmdCerts(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "portcullis: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: portcullis %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; it returns -1 to go on, or the exit status. The
// usage is printed exactly once: to stdout (exit 0) when asked for with -h
// or --help, to stderr after the error for a bad flag (exit 2). The flag
// package would print it itself before returning either error, so its
// Usage is silenced while it parses.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) int {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "portcullis %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2
	}
	return -1
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "Serve with a config file; reload on SIGHUP or when the file is replaced; drain on SIGTERM.", stderr)
	cfgPath := fs.String("config", "", "path to the YAML config file (required)")
	level := fs.String("log-level", "info", "process log level: debug, info, warn, error")
	watch := fs.String("watch", gateway.WatchReplace, "reload when the config file is: replace (renamed over or swapped, never written in place), content (also written in place, 1s after the last write), off (SIGHUP only)")
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "portcullis run: --config is required")
		return 2
	}
	switch *watch {
	case gateway.WatchReplace, gateway.WatchContent, gateway.WatchOff:
	default:
		fmt.Fprintf(stderr, "portcullis run: invalid --watch %q: use replace, content or off\n", *watch)
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "portcullis run: invalid --log-level %q\n", *level)
		return 2
	}
	logger := telemetry.NewLogger(stderr, lvl)
	slog.SetDefault(logger)            // policies and the log package's default logger write JSON too
	telemetry.RouteLibraryLogs(logger) // and libraries with loggers of their own
	rt := runtimetune.Apply(runtimetune.OS())
	logger.Info("garbage collector", "gc_percent", rt.GCPercent, "gc_percent_from", rt.GCPercentSource,
		"memory_limit_bytes", rt.MemoryLimit, "memory_limit_from", rt.MemoryLimitFrom)
	gw, err := gateway.New(gateway.Options{ConfigPath: *cfgPath, Logger: logger, Version: version, Watch: *watch})
	if err != nil {
		logStartError(logger, err)
		return 1
	}
	if err := gw.Run(context.Background()); err != nil {
		logger.Error("portcullis stopped", "error", err)
		return 1
	}
	return 0
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "Check a config file: syntax, fields, references and policy compilation.", stderr)
	cfgPath := fs.String("config", "", "path to the YAML config file (required)")
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "portcullis validate: --config is required")
		return 2
	}
	if _, err := gateway.Load(*cfgPath); err != nil {
		printConfigError(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", *cfgPath)
	return 0
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "Print the version.", stderr)
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	fmt.Fprintf(stdout, "portcullis %s\n", version)
	return 0
}

// logStartError writes why `run` could not start to the JSON process log:
// one line per config error, with its position as fields and as the
// file:line:col: path: message text validate prints.
func logStartError(l *slog.Logger, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			l.Error("invalid config; not started", "event", "config_invalid", "error", e.Error(),
				"file", e.File, "line", e.Line, "column", e.Column, "path", e.Path)
		}
		return
	}
	l.Error("not started", "event", "start_failed", "error", strings.TrimSpace(err.Error()))
}

// printConfigError prints one error per line, as file:line:col: path: message.
func printConfigError(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, strings.TrimSpace(err.Error()))
}
