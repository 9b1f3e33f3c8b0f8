package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"riverqueue.com/riverui"

	"github.com/jackc/pgx/v5"
	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/jobs"
	"github.com/pregon/pregon/web"
	"github.com/riverqueue/river"
)

func runServe(ctx context.Context, args []string) error {
	cfg, _, err := loadConfig("serve", args, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	// Listen first: a port in use is reported before anything else starts.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (PREGON_ADDR): %w", cfg.Addr, err)
	}
	defer ln.Close()

	e, err := open(ctx, cfg, log, cfg.Migrate, 40+int32(cfg.SendWorkers/4))
	if err != nil {
		return err
	}
	defer e.close()

	apiDB := e.pool
	if cfg.Workers {
		if apiDB, err = e.separatePool(ctx, 16); err != nil {
			return err
		}
	}
	var extra []api.Mount
	simURL := ""
	if cfg.Simulator != "off" {
		simulator := newEmbeddedSimulator(e.cfg, "http://"+ln.Addr().String()+"/webhooks/whatsapp", log)
		simulator.Start(ctx)
		simURL = "http://" + ln.Addr().String() + simPrefix
		// Graph paths check the simulator's own bearer token; its control API is for owners,
		// on their own simulator numbers only: the open mount serves Graph paths alone (the
		// router matches the raw path, so /sim/%5Fsim/… would reach it).
		extra = append(extra, simulatorMounts(simulator, apiDB)...)
	}
	wa := clientFactory(e.cfg, e.box, simURL)
	deps := jobs.Deps{Config: e.cfg, DB: e.pool, Box: e.box, Logger: log, WhatsApp: wa}
	client, err := jobs.NewClient(e.pool, deps, jobs.ClientConfig{Workers: cfg.Workers, SendWorkers: cfg.SendWorkers})
	if err != nil {
		return err
	}
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil), Logger: log.With("component", "riverui"),
		Prefix: "/admin/river", JobListHideArgsByDefault: true,
	})
	if err != nil {
		return fmt.Errorf("building River UI: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return fmt.Errorf("starting River UI: %w", err)
	}
	if e.cfg.Demo && len(e.cfg.AdminEmails) == 0 {
		e.cfg.AdminEmails = []string{demoEmail} // make run: the demo owner operates the installation
	}
	srv, err := api.New(api.Deps{
		Config: e.cfg, DB: apiDB, River: client, Box: e.box, Logger: log, WhatsApp: wa,
		Extra: append(extra, api.Mount{Prefix: "/admin/river", Handler: ui, Operator: true}),
	})
	if err != nil {
		return err
	}
	if err := web.Register(srv, web.Deps{DB: apiDB, River: client, Box: e.box, Config: e.cfg, Logger: log}); err != nil {
		return err
	}
	var beat *jobs.Heartbeat
	if cfg.Workers {
		if beat, err = startWorkers(ctx, deps, client); err != nil {
			return err
		}
	}
	if err := afterStart(ctx, e, client); err != nil {
		return err
	}
	log.Info("pregon ready", "url", cfg.PublicURL, "workers", cfg.Workers, "version", version)
	fmt.Fprintf(os.Stderr, "\n  Pregón is running at %s\n", cfg.PublicURL)
	printLoginHint(ctx, e)

	httpSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	err = srv.Serve(ctx, httpSrv, func() error { return httpSrv.Serve(ln) })
	stopRiver(client, cfg.ShutdownTimeout, log)
	if beat != nil {
		beat.Stop()
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("pregon stopped")
	return nil
}

func runWorker(ctx context.Context, args []string) error {
	cfg, _, err := loadConfig("worker", args, nil)
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	e, err := open(ctx, cfg, log, cfg.Migrate, 40+int32(cfg.SendWorkers/4))
	if err != nil {
		return err
	}
	defer e.close()
	simURL := ""
	if cfg.Simulator != "off" {
		simURL = cfg.SimulatorURL
	}
	deps := jobs.Deps{Config: e.cfg, DB: e.pool, Box: e.box, Logger: log, WhatsApp: clientFactory(e.cfg, e.box, simURL)}
	client, err := jobs.NewClient(e.pool, deps, jobs.ClientConfig{Workers: true, SendWorkers: cfg.SendWorkers})
	if err != nil {
		return err
	}
	beat, err := startWorkers(ctx, deps, client)
	if err != nil {
		return err
	}
	log.Info("pregon worker ready", "version", version, "client_id", client.ID())
	<-ctx.Done()
	stopRiver(client, cfg.ShutdownTimeout, log)
	beat.Stop()
	return nil
}

// startWorkers starts the process's heartbeat, then its River workers: a process killed
// while working jobs is known dead once its heartbeats stop, and its jobs go to others.
func startWorkers(ctx context.Context, deps jobs.Deps, client *river.Client[pgx.Tx]) (*jobs.Heartbeat, error) {
	beat, err := jobs.StartHeartbeat(ctx, deps, client.ID())
	if err != nil {
		return nil, fmt.Errorf("starting River workers: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		beat.Stop()
		return nil, fmt.Errorf("starting River workers: %w", err)
	}
	return beat, nil
}

type stopper interface {
	Stop(context.Context) error
	StopAndCancel(context.Context) error
}

// stopRiver lets running jobs finish for up to timeout, then cancels them; cancelled jobs are
// retried safely because every job's own rows say how far it got.
func stopRiver(c stopper, timeout time.Duration, log interface{ Info(string, ...any) }) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		log.Info("river soft stop timed out; cancelling running jobs", "error", err)
		ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel2()
		c.StopAndCancel(ctx2)
	}
}
