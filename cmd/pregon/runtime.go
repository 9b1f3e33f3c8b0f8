package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/pgembed"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/migrations"
)

// env is what every command that touches the database shares.
type env struct {
	cfg     config.Config
	log     *slog.Logger
	pool    *pgxpool.Pool // River and its workers
	apiPool *pgxpool.Pool // requests, when this process also runs workers (see separatePool)
	box     *secret.Box
	cluster *pgembed.Cluster // nil with DATABASE_URL
}

func loadConfig(name string, args []string, extra func(fs *flag.FlagSet)) (config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if extra != nil {
		extra(fs)
	}
	cfg, err := config.Load(os.Getenv, fs, args)
	if err == flag.ErrHelp {
		fs.SetOutput(os.Stderr)
		fs.PrintDefaults()
		os.Exit(0)
	}
	if err != nil {
		return cfg, fs, usageError{err.Error()}
	}
	return cfg, fs, nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// open connects to the database (starting the embedded cluster when DATABASE_URL is empty),
// applies migrations when asked, and prepares the secret box.
func open(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool, maxConns int32) (*env, error) {
	e := &env{cfg: cfg, log: log}
	url := cfg.DatabaseURL
	if url == "" {
		c, err := pgembed.Start(ctx, pgembed.Config{Dir: cfg.DataDir, Logger: log})
		if err != nil {
			return nil, err
		}
		e.cluster = c
		url = c.URL("pregon")
		log.Info("embedded postgres ready", "data_dir", cfg.DataDir, "port", c.Port())
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if maxConns > 0 && !strings.Contains(url, "pool_max_conns") {
		pcfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		e.close()
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	e.pool = pool
	if migrate {
		if err := migrations.Up(ctx, pool); err != nil {
			e.close()
			return nil, err
		}
	}
	if err := cfg.EnsureSecretKey(); err != nil {
		e.close()
		return nil, err
	}
	e.cfg = cfg
	if e.box, err = secret.New(cfg.SecretKey); err != nil {
		e.close()
		return nil, fmt.Errorf("PREGON_SECRET_KEY: %w", err)
	}
	return e, nil
}

// separatePool gives the HTTP handlers their own connections when this process also runs
// workers: a backlog of send or webhook jobs holding every worker connection must not make a
// webhook acknowledgement (Meta retries slow ones) or a page wait for a connection.
func (e *env) separatePool(ctx context.Context, maxConns int32) (*pgxpool.Pool, error) {
	cfg := e.pool.Config().Copy()
	cfg.MaxConns = maxConns
	cfg.MinConns = min(4, maxConns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting the API's pool: %w", err)
	}
	e.apiPool = pool
	return pool, nil
}

func (e *env) close() {
	if e.apiPool != nil {
		e.apiPool.Close()
	}
	if e.pool != nil {
		e.pool.Close()
	}
	if e.cluster != nil {
		if err := e.cluster.Stop(); err != nil {
			e.log.Error("stopping embedded postgres", "error", err)
		}
	}
}
