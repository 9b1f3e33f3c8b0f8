package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/pregon/pregon/api"
	"github.com/pregon/pregon/internal/config"
	"github.com/pregon/pregon/internal/secret"
	"github.com/pregon/pregon/store"
	"github.com/pregon/pregon/whatsapp"
	"github.com/pregon/pregon/whatsapp/sim"
)

func init() { extraCommands["sim"] = runSim }

// simPrefix is where `serve` mounts the built-in simulator.
const simPrefix = "/sim"

// SimulatorSecrets derives the built-in simulator's app secret and access token from the secret
// key, so that every process of one installation agrees on them without another setting.
func SimulatorSecrets(key []byte) (appSecret, token string) {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("pregon simulator app secret"))
	appSecret = hex.EncodeToString(mac.Sum(nil))[:32]
	mac.Reset()
	mac.Write([]byte("pregon simulator token"))
	token = "SIM" + hex.EncodeToString(mac.Sum(nil))[:40]
	return appSecret, token
}

// clientFactory returns the Cloud API client for a sender number: Meta with the number's own
// (decrypted) token, or the simulator for numbers without credentials.
func clientFactory(cfg config.Config, box *secret.Box, simBaseURL string) func(n store.SenderNumber) (*whatsapp.Client, error) {
	_, simToken := SimulatorSecrets(cfg.SecretKey)
	meta := whatsapp.New(whatsapp.Config{BaseURL: cfg.GraphURL, Version: cfg.GraphVersion})
	var simClient *whatsapp.Client
	if simBaseURL != "" {
		simClient = whatsapp.New(whatsapp.Config{BaseURL: simBaseURL, Version: cfg.GraphVersion, Token: simToken})
	}
	return func(n store.SenderNumber) (*whatsapp.Client, error) {
		if n.UsesSimulator() && cfg.Simulator != "off" {
			if simClient == nil {
				return nil, errors.New("number uses the simulator but PREGON_SIMULATOR is off")
			}
			return simClient, nil
		}
		tok, err := box.Open(n.AccessTokenEnc)
		if err != nil {
			return nil, fmt.Errorf("decrypting the access token of number %s: %w", n.PhoneNumberID, err)
		}
		if tok == "" {
			return nil, fmt.Errorf("number %s has no access token", n.PhoneNumberID)
		}
		return meta.WithToken(tok), nil
	}
}

// newEmbeddedSimulator builds the simulator `serve` mounts at /sim: it posts signed webhooks to
// this installation's own webhook endpoint.
func newEmbeddedSimulator(cfg config.Config, webhookURL string, log *slog.Logger) *sim.Simulator {
	appSecret, token := SimulatorSecrets(cfg.SecretKey)
	return sim.New(sim.Config{
		Seed:       time.Now().UnixNano(),
		WebhookURL: webhookURL,
		AppSecret:  appSecret,
		Tokens:     []string{token},
		Numbers:    demoSimNumbers(),
		Replies:    sim.ReplyConfig{Prob: 0.08},
		Logger:     log.With("component", "simulator"),
	})
}

// simulatorMounts are the embedded simulator's routes on the server: the Graph paths, open
// (the simulator checks its own bearer token; the control API answers 404 there), and the
// control API for owners, every call kept to the caller's own simulator numbers.
func simulatorMounts(s *sim.Simulator, db store.DBTX) []api.Mount {
	return []api.Mount{
		{Prefix: simPrefix + "/_sim", Handler: http.StripPrefix(simPrefix, s.Control(simControlAuthorizer(db))), Role: "owner"},
		{Prefix: simPrefix, Handler: http.StripPrefix(simPrefix, s.GraphOnly())},
	}
}

// simControlAuthorizer decides who may make a control call of the one simulator every
// workspace shares, whose webhooks the endpoint trusts for every simulator number: a call
// naming a number needs a simulator number of the caller's workspace; one naming a WABA needs
// every number of that WABA to be such a number; what spans every workspace (statistics,
// faults, reset, the whole template list) is for the installation's operators, who may also
// make any other call.
func simControlAuthorizer(db store.DBTX) func(*http.Request, sim.ControlTarget) error {
	forbidden := func(format string, args ...any) error { return simControlRefusal(fmt.Sprintf(format, args...)) }
	own := func(c api.Caller, n store.SenderNumber) bool {
		return n.WorkspaceID == c.WorkspaceID && n.UsesSimulator()
	}
	return func(r *http.Request, t sim.ControlTarget) error {
		ctx := r.Context()
		c, ok := api.CallerOf(ctx)
		switch {
		case !ok:
			return forbidden("inicie sesión")
		case c.Operator:
			return nil
		case t.Installation():
			return forbidden("solo para los operadores de la instalación (PREGON_ADMIN_EMAILS): abarca los números de todos los espacios de trabajo")
		case t.PhoneNumberID != "":
			n, err := store.SenderNumberGetByPhoneNumberID(ctx, db, t.PhoneNumberID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("reading number %s: %w", t.PhoneNumberID, err)
			}
			if err != nil || !own(c, n) {
				return forbidden("el número %s no es un número del simulador de este espacio de trabajo", t.PhoneNumberID)
			}
			return nil
		default:
			ns, err := store.SenderNumberListByWABA(ctx, db, t.WABAID)
			if err != nil {
				return err
			}
			for _, n := range ns {
				if !own(c, n) {
					ns = nil
					break
				}
			}
			if len(ns) == 0 {
				return forbidden("la cuenta de WhatsApp Business %s no es del simulador de este espacio de trabajo", t.WABAID)
			}
			return nil
		}
	}
}

// simControlRefusal is a refused control call, answered 403 with its text.
type simControlRefusal string

func (e simControlRefusal) Error() string        { return string(e) }
func (e simControlRefusal) Is(target error) bool { return target == sim.ErrControlForbidden }

// demoSimNumbers are the simulated business numbers: the demo's coexistence number.
func demoSimNumbers() []sim.Number {
	return []sim.Number{{
		PhoneNumberID: demoPhoneNumberID, WABAID: demoWABAID, DisplayPhoneNumber: "573105550123",
		VerifiedName: "Café Aurora", Coexistence: true, MessagingLimitTier: "TIER_2K",
	}}
}

const (
	demoPhoneNumberID = "109876543210001"
	demoWABAID        = "209876543210001"
)

// runSim runs the simulator on its own.
func runSim(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9099", "address to listen on")
	webhook := fs.String("webhook-url", "", "where to POST signed webhooks (e.g. http://127.0.0.1:8080/webhooks/whatsapp)")
	appSecret := fs.String("app-secret", os.Getenv("PREGON_SIM_APP_SECRET"), "app secret that signs webhooks")
	token := fs.String("token", os.Getenv("PREGON_SIM_TOKEN"), "accepted bearer token (empty: any)")
	seed := fs.Int64("seed", 1, "random seed")
	mps := fs.Int("mps", 0, "throughput of every number (0: Meta's: 80, or 20 for coexistence; -1 unlimited)")
	coexistence := fs.Bool("coexistence", true, "the simulated number is a coexistence number (20 msg/s)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	nums := demoSimNumbers()
	nums[0].Coexistence = *coexistence
	nums[0].MPS = *mps
	cfg := sim.Config{Seed: *seed, WebhookURL: *webhook, AppSecret: *appSecret, Numbers: nums,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if *token != "" {
		cfg.Tokens = []string{*token}
	}
	s := sim.New(cfg)
	s.Start(ctx)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(os.Stderr, "WhatsApp simulator on http://%s (Graph paths /v23.0/…, control API /_sim/…), phone_number_id %s, WABA %s\n",
		ln.Addr(), demoPhoneNumberID, demoWABAID)
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); srv.Shutdown(context.Background()) }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
