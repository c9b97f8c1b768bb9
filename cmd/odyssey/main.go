// Command odyssey is a PostgreSQL connection pooler that reads Yandex
// Odyssey's configuration format.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when ODYSSEY_PPROF is set
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/instance"
	"github.com/odyssey-go/odyssey/internal/logging"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// synopsis is the short form of usage, shown after a wrong command line.
const synopsis = `Usage:
  odyssey [--test [--silent]] [--log_to_stdout] [--verbose] [--console] CONFIG
  odyssey -V | --version
  odyssey -h | --help
`

const usage = "odyssey: a PostgreSQL connection pooler (Odyssey-compatible)\n\n" + synopsis + `
CONFIG is the configuration file, in Odyssey's format. As in Odyssey, the
options may come before or after it.

Options:
  --test           check CONFIG, print every problem, exit 0 if it is valid
                   and 1 if it is not
  --silent         with --test, print nothing when CONFIG is valid
  --log_to_stdout  log to stdout whatever log_to_stdout says
  --verbose        log at debug level whatever log_debug says
  --console        accepted for Odyssey compatibility (odyssey never
                   daemonizes)
  -V, --version    print the version and exit
  -h, -?, --help, --usage
                   print this help and exit

Signals: SIGTERM/SIGINT shut down gracefully (graceful_shutdown_timeout_ms),
SIGHUP reloads CONFIG, SIGUSR1 reopens log_file.
`

// flags are the command-line options. All of them are switches, as in
// Odyssey, which is what lets run move them before CONFIG.
type flags struct {
	test, silent, version, help, toStdout, verbose *bool
}

// newFlagSet defines the options. It prints nothing itself: run reports
// a wrong option.
func newFlagSet() (*flag.FlagSet, flags) {
	fs := flag.NewFlagSet("odyssey", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := flags{
		test:     fs.Bool("test", false, "check CONFIG"),
		silent:   fs.Bool("silent", false, "with --test, print nothing when CONFIG is valid"),
		version:  fs.Bool("version", false, "print the version"),
		help:     fs.Bool("help", false, "print the help"),
		toStdout: fs.Bool("log_to_stdout", false, "log to stdout"),
		verbose:  fs.Bool("verbose", false, "log at debug level"),
	}
	fs.BoolVar(f.version, "V", false, "print the version")
	for _, name := range []string{"h", "?", "usage"} {
		fs.BoolVar(f.help, name, false, "print the help")
	}
	fs.Bool("console", false, "accepted for Odyssey compatibility")
	return fs, f
}

// optionsFirst moves the options before the other arguments, as Odyssey's
// getopt_long does, so that `odyssey odyssey.conf --console` works. Every
// option is a switch, so none takes the next argument as its value; after
// "--" everything is an argument.
func optionsFirst(args []string) []string {
	var opts, rest []string
	for i, a := range args {
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			opts = append(opts, a)
		} else {
			rest = append(rest, a)
		}
	}
	return append(append(opts, "--"), rest...)
}

// badArgs reports a wrong command line with the synopsis and returns the
// exit status for it.
func badArgs(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "odyssey: "+format+"\n\n%s", append(args, synopsis)...)
	return 2
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs, f := newFlagSet()
	if err := fs.Parse(optionsFirst(args)); err != nil {
		fmt.Fprintf(stderr, "odyssey: %v\n\n%s", err, usage)
		return 2
	}
	test, silent, toStdout, verbose := f.test, f.silent, f.toStdout, f.verbose
	if *f.help {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if *f.version {
		fmt.Fprintln(stdout, "odyssey", version)
		return 0
	}
	switch {
	case fs.NArg() == 0:
		return badArgs(stderr, "a CONFIG is needed (the path of the configuration file)")
	case fs.NArg() > 1:
		got := make([]string, fs.NArg())
		for i, a := range fs.Args() {
			got[i] = strconv.Quote(a)
		}
		return badArgs(stderr, "expected exactly one CONFIG, got %d: %s", fs.NArg(), strings.Join(got, " "))
	case fs.Arg(0) == "":
		return badArgs(stderr, `CONFIG is "": the path of the configuration file is needed`)
	}
	cfg, err := config.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *test {
		if !*silent {
			for _, w := range cfg.Warnings {
				fmt.Fprintln(stderr, w.String())
			}
			fmt.Fprintf(stdout, "%s: configuration is valid\n", fs.Arg(0))
		}
		return 0
	}
	log, sink, err := logging.Open(logOptions(cfg, *toStdout, *verbose))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer sink.Close()
	for _, w := range cfg.Warnings {
		log.Warn(w.Message, "at", fmt.Sprintf("%s:%d:%d", w.Pos.File, w.Pos.Line, w.Pos.Column))
	}

	applyWorkers(cfg, log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, fmt.Appendf(nil, "%d\n", os.Getpid()), 0o644); err != nil {
			log.Error("write pid_file", "error", err)
			return 1
		}
		defer os.Remove(cfg.PidFile)
	}
	// Serving outlives the signal context: a shutdown lets running
	// transactions finish on their servers.
	serveCtx, cancelServe := context.WithCancel(context.Background())
	defer cancelServe()
	in := instance.New(cfg, log)
	in.SetVersion(version)
	in.OnReload = func(cfg *config.Config) {
		if err := sink.Apply(logOptions(cfg, *toStdout, *verbose)); err != nil {
			log.Warn("reload: logging", "error", err)
		}
		applyWorkers(cfg, log)
	}
	if err := in.Start(serveCtx); err != nil {
		log.Error("start failed", "error", err)
		fmt.Fprintln(stderr, err)
		return 1
	}
	log.Info("odyssey started", "version", version, "config", fs.Arg(0))
	if addr := os.Getenv("ODYSSEY_PPROF"); addr != "" {
		// For profiling under load: go tool pprof http://ADDR/debug/pprof/profile
		go func() { log.Warn("pprof server stopped", "error", http.ListenAndServe(addr, nil)) }()
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGHUP)
	// The console's SHUTDOWN asks for the same graceful shutdown as SIGTERM.
	requested := in.ShutdownRequested()
	for ctx.Err() == nil && !closed(requested) {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGUSR1:
				if err := sink.Reopen(); err != nil {
					log.Error("reopen log file", "error", err)
				}
			case syscall.SIGHUP:
				in.Reload() // logs what it did or why not
			}
		case <-requested:
			log.Info("shutdown requested from the console")
		case <-ctx.Done():
		}
	}
	stop() // a second SIGTERM/SIGINT now kills the process at once
	in.Shutdown(context.Background())
	return 0
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// applyWorkers maps Odyssey's `workers` (worker threads) to GOMAXPROCS, the
// number of threads running Go code at once, unless the GOMAXPROCS
// environment variable says otherwise. Odyssey's default is one worker; so
// is ours: with PostgreSQL on the same few cores, one thread relays more
// per CPU second than two that hand goroutines to each other (measured on
// 2 cores, pgbench -S 16 clients: 52 µs of pooler CPU per transaction with
// one, 81 µs with two).
func applyWorkers(cfg *config.Config, log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if cfg.Workers > 0 {
		runtime.GOMAXPROCS(cfg.Workers)
		log.Debug("workers", "gomaxprocs", cfg.Workers)
	}
}

// logOptions are the logger settings of cfg with the command-line
// overrides. log_format goes to the logger as written: "json", or an
// Odyssey format string whose placeholders the logger fills in.
func logOptions(cfg *config.Config, toStdout, verbose bool) logging.Options {
	return logging.Options{
		File:   cfg.LogFile,
		Stdout: cfg.LogToStdout || toStdout,
		Format: cfg.LogFormat,
		Debug:  cfg.LogDebug || verbose,
	}
}
