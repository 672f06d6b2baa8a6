// Command hub runs CareCrest Hub.
//
//	hub serve --config FILE     run the hub (ingest, policy, audit, GraphQL)
//	hub demo [--exit-after-tour] run on embedded defaults with synthetic traffic
//
// Configuration precedence: flags > environment (CARECREST_*) > file >
// defaults. Exit codes: 0 clean stop, 1 runtime failure, 2 usage or
// configuration error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/carecrest/hub/config"
	"github.com/carecrest/hub/demo"
	"github.com/carecrest/hub/mllp"
	"github.com/carecrest/hub/server"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

const usage = `usage:
  hub serve --config FILE [flags]   run the hub
  hub demo [flags]                  run on embedded defaults with synthetic hospital traffic
  hub migrate --config FILE         apply pending store schema migrations (needs a DDL-capable store user)
  hub help                          this text

Run "hub serve -h" or "hub demo -h" for flags.`

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "demo":
		return runDemo(args[1:])
	case "migrate":
		return migrate(args[1:])
	case "help", "-h", "--help":
		fmt.Println(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "hub: unknown command %q\n%s\n", args[0], usage)
		return 2
	}
}

// common are the flags both commands take.
type common struct {
	configPath, dataDir, httpAddr, logLevel, logFormat string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.configPath, "config", "", "YAML configuration file")
	fs.StringVar(&c.dataDir, "data-dir", "", "data directory (overrides data_dir)")
	fs.StringVar(&c.httpAddr, "http-addr", "", "GraphQL listen address (overrides http.addr)")
	fs.StringVar(&c.logLevel, "log-level", "", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "", "text or json")
}

// load reads the file and environment, then applies the flags.
func (c *common) load(defaults func(*config.Config)) (*config.Config, error) {
	cfg, err := config.Load(c.configPath)
	if err != nil {
		return nil, err
	}
	if c.configPath == "" && defaults != nil {
		defaults(cfg)
	}
	if c.dataDir != "" {
		cfg.SetDataDir(c.dataDir)
	}
	if c.httpAddr != "" {
		cfg.HTTP.Addr = c.httpAddr
	}
	if c.logLevel != "" {
		cfg.Log.Level = c.logLevel
	}
	if c.logFormat != "" {
		cfg.Log.Format = c.logFormat
	}
	cfg.Defaults()
	return cfg, cfg.Validate()
}

func logger(cfg *config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serve(args []string) int {
	fs := flag.NewFlagSet("hub serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := c.load(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hub: configuration: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logger(cfg)
	h, err := server.Start(ctx, cfg, log)
	if err != nil {
		log.Error("hub failed to start", "err", err)
		return 1
	}
	<-ctx.Done()
	log.Info("stopping")
	if err := h.Close(); err != nil {
		log.Error("stop", "err", err)
		return 1
	}
	return 0
}

func runDemo(args []string) int {
	fs := flag.NewFlagSet("hub demo", flag.ContinueOnError)
	var c common
	c.register(fs)
	exitAfter := fs.Bool("exit-after-tour", false, "exit after the tour instead of serving until Ctrl-C")
	patients := fs.Int("patients", 12, "how many synthetic patients")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := c.load(func(cfg *config.Config) {
		cfg.SetDataDir("data/demo")
		cfg.Log.Level = "warn"
		cfg.Gateways.MLLP = []mllp.Config{{Addr: "127.0.0.1:2575", Source: "registration"}}
		cfg.Alerts.Enabled = true // the tour shows the break-the-glass alert
		if len(cfg.Compliance.InternalOrgs) == 0 {
			// The demo hospital: its workforce's reads are uses, not disclosures.
			cfg.Compliance.InternalOrgs = []string{demo.Organization}
		}
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "hub: configuration: %v\n", err)
		return 2
	}
	if cfg.Kafka.Backend != "embedded" {
		fmt.Fprintln(os.Stderr, "hub demo: runs on the embedded broker only (kafka.backend: embedded)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := server.Start(ctx, cfg, logger(cfg))
	if err != nil {
		fmt.Fprintf(os.Stderr, "hub demo: start: %v\n", err)
		return 1
	}
	defer h.Close()
	err = demo.Run(ctx, h, demo.Options{Patients: *patients, Out: os.Stdout})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "hub demo: %v\n", err)
		return 1
	}
	if *exitAfter || ctx.Err() != nil {
		return 0
	}
	fmt.Println("\nServing until Ctrl-C.")
	<-ctx.Done()
	return 0
}

func migrate(args []string) int {
	fs := flag.NewFlagSet("hub migrate", flag.ContinueOnError)
	var c common
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := c.load(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hub: configuration: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Migrate(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "hub migrate: %v\n", err)
		return 1
	}
	fmt.Printf("store %s: schema up to date\n", cfg.Store.Backend)
	return 0
}
