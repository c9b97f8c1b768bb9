// Command odyssey is a PostgreSQL connection pooler that reads Yandex
// Odyssey's configuration format.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only when ODYSSEY_PPROF is set
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/odyssey-go/odyssey/internal/config"
	"github.com/odyssey-go/odyssey/internal/instance"
	"github.com/odyssey-go/odyssey/internal/logging"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `odyssey: a PostgreSQL connection pooler (Odyssey-compatible)

Usage:
  odyssey [--test] [--version] [--log_to_stdout] [--verbose] CONFIG

Options:
  --test           check CONFIG, print every problem, exit 0 if it is valid
  --silent         with --test, print nothing when CONFIG is valid
  -V, --version    print the version and exit
  --log_to_stdout  log to stdout whatever log_to_stdout says
  --verbose        log at debug level whatever log_debug says
  --console        accepted for Odyssey compatibility (never daemonizes)
  -h, --help, -?, --usage
                   show this help

Signals: SIGTERM/SIGINT shut down gracefully (graceful_shutdown_timeout_ms),
SIGHUP reloads CONFIG, SIGUSR1 reopens log_file.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("odyssey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	test := fs.Bool("test", false, "")
	showVersion := fs.Bool("version", false, "")
	fs.BoolVar(showVersion, "V", false, "")
	toStdout := fs.Bool("log_to_stdout", false, "")
	verbose := fs.Bool("verbose", false, "")
	silent := fs.Bool("silent", false, "")
	showUsage := fs.Bool("usage", false, "")
	fs.BoolVar(showUsage, "?", false, "")
	fs.Bool("console", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showUsage {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if *showVersion {
		fmt.Fprintln(stdout, "odyssey", version)
		return 0
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, usage)
		return 2
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
// overrides.
func logOptions(cfg *config.Config, toStdout, verbose bool) logging.Options {
	return logging.Options{
		File:   cfg.LogFile,
		Stdout: cfg.LogToStdout || toStdout,
		JSON:   cfg.LogFormat == "json",
		Debug:  cfg.LogDebug || verbose,
	}
}
