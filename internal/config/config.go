// Package config reads Pregón's configuration once, from environment variables with command-line
// flags as overrides, and validates it. Every error names the variable at fault.
package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the validated configuration.
type Config struct {
	Addr            string        // PREGON_ADDR
	PublicURL       string        // PREGON_PUBLIC_URL
	DatabaseURL     string        // DATABASE_URL; empty = embedded Postgres under DataDir
	DataDir         string        // PREGON_DATA_DIR
	SecretKey       []byte        // PREGON_SECRET_KEY(_FILE); 32 bytes; generated under DataDir when empty
	Migrate         bool          // PREGON_MIGRATE
	Workers         bool          // PREGON_WORKERS (serve --no-workers turns it off)
	LogFormat       string        // PREGON_LOG_FORMAT: json | text
	LogLevel        string        // PREGON_LOG_LEVEL: debug | info | warn | error
	UploadLimit     int64         // PREGON_UPLOAD_LIMIT_MB, in bytes
	Simulator       string        // PREGON_SIMULATOR: auto | on | off
	SimulatorURL    string        // PREGON_SIMULATOR_URL: where workers reach the simulator
	GraphURL        string        // PREGON_GRAPH_URL
	GraphVersion    string        // PREGON_GRAPH_VERSION
	Demo            bool          // PREGON_DEMO: seed the demo workspace on start
	ShutdownTimeout time.Duration // PREGON_SHUTDOWN_TIMEOUT
	WorkerDeadAfter time.Duration // PREGON_WORKER_DEAD_AFTER: silence after which a worker's running jobs are rescued
	SendWorkers     int           // PREGON_SEND_WORKERS: concurrent sends per process
	RateCardFile    string        // PREGON_RATE_CARD: optional price list (CSV) for cost estimates
	MetricsToken    string        // PREGON_METRICS_TOKEN: bearer token for /metrics; empty = loopback only
	AdminEmails     []string      // PREGON_ADMIN_EMAILS: the installation's operators (River UI), lower case
}

// Var documents one setting; the README table is generated from these. A setting whose
// default is true or false is a yes/no one: its flag is a boolean (--demo, --demo=false).
type Var struct {
	Env, Flag, Default, Help string
}

// Bool says whether the setting is a yes/no one.
func (v Var) Bool() bool { return v.Default == "true" || v.Default == "false" }

// Vars lists every setting.
var Vars = []Var{
	{"PREGON_ADDR", "addr", "127.0.0.1:8080", "Address the HTTP server listens on."},
	{"PREGON_PUBLIC_URL", "public-url", "http://<addr>", "External URL (links, webhook URL shown to owners)."},
	{"DATABASE_URL", "database-url", "(embedded)", "Postgres URL. Empty: start a private cluster under the data folder from the system's Postgres binaries."},
	{"PREGON_DATA_DIR", "data-dir", "./.pregon", "Data folder: embedded cluster, uploads, exports, generated secret key."},
	{"PREGON_SECRET_KEY", "", "(generated)", "32-byte key (hex or base64) that encrypts access tokens and app secrets at rest. PREGON_SECRET_KEY_FILE reads it from a file. Generated into the data folder when unset."},
	{"PREGON_MIGRATE", "migrate", "true", "Apply migrations at start."},
	{"PREGON_WORKERS", "workers", "true", "Run River workers in serve (--no-workers for API-only replicas)."},
	{"PREGON_LOG_FORMAT", "log-format", "text", "Log format: json or text."},
	{"PREGON_LOG_LEVEL", "log-level", "info", "debug, info, warn or error."},
	{"PREGON_UPLOAD_LIMIT_MB", "upload-limit-mb", "100", "Largest contact file accepted, in MB."},
	{"PREGON_SIMULATOR", "simulator", "auto", "Built-in WhatsApp simulator: auto (for numbers without Meta credentials), on, off."},
	{"PREGON_SIMULATOR_URL", "simulator-url", "http://<addr>/sim", "Where workers reach the built-in simulator that serve mounts (set it on pregon worker machines)."},
	{"PREGON_GRAPH_URL", "graph-url", "https://graph.facebook.com", "Cloud API base URL."},
	{"PREGON_GRAPH_VERSION", "graph-version", "v23.0", "Graph API version pinned for every call."},
	{"PREGON_DEMO", "demo", "false", "Seed the demo workspace, number, templates and sample workbook at start (make run sets it)."},
	{"PREGON_SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s", "How long in-flight requests and jobs get on shutdown."},
	{"PREGON_WORKER_DEAD_AFTER", "worker-dead-after", "90s", "How long a worker process may miss its heartbeats before its running jobs go to others."},
	{"PREGON_SEND_WORKERS", "send-workers", "200", "Concurrent send jobs per process (Little's law: throughput × API latency)."},
	{"PREGON_RATE_CARD", "rate-card", "", "Optional CSV rate card for cost estimates (see README)."},
	{"PREGON_METRICS_TOKEN", "metrics-token", "", "Bearer token Prometheus sends to /metrics. Empty: /metrics answers loopback clients only."},
	{"PREGON_ADMIN_EMAILS", "admin-emails", "", "Comma-separated e-mails of the installation's operators: only they, logged in, open the River UI (/admin/river), which shows every workspace's jobs. Empty: nobody (make run: the demo owner)."},
}

// secretVars are settings whose value --help must not print as the flag's default.
var secretVars = map[string]bool{"DATABASE_URL": true, "PREGON_METRICS_TOKEN": true}

// Load reads the environment (getenv) and then args as flag overrides.
func Load(getenv func(string) string, fs *flag.FlagSet, args []string) (Config, error) {
	vals := map[string]*string{}
	secretFlags := map[string][2]*string{} // flag → its own value, the setting's
	for _, v := range Vars {
		val := getenv(v.Env)
		if val == "" && v.Env == "PREGON_SECRET_KEY" {
			if f := getenv("PREGON_SECRET_KEY_FILE"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return Config{}, fmt.Errorf("PREGON_SECRET_KEY_FILE: %w", err)
				}
				val = strings.TrimSpace(string(b))
			}
		}
		if val == "" && !strings.HasPrefix(v.Default, "(") && !strings.Contains(v.Default, "<") {
			val = v.Default
		}
		s := val
		vals[v.Env] = &s
		if v.Flag != "" && fs != nil {
			// Usage text is plain: flag.PrintDefaults takes a back-quoted word for the argument's name.
			usage := v.Help + " (" + v.Env + ")"
			if v.Bool() {
				fs.Var(boolFlag{vals[v.Env]}, v.Flag, usage)
			} else if secretVars[v.Env] {
				// Defined with an empty default so --help does not print the environment's
				// value (a password in DATABASE_URL); copied over after parsing if given.
				override := new(string)
				fs.StringVar(override, v.Flag, "", usage)
				secretFlags[v.Flag] = [2]*string{override, vals[v.Env]}
			} else {
				fs.StringVar(vals[v.Env], v.Flag, s, usage)
			}
		}
	}
	noWorkers := false
	if fs != nil {
		fs.BoolVar(&noWorkers, "no-workers", false, "API only: run no River workers")
		if err := fs.Parse(args); err != nil {
			return Config{}, err
		}
		fs.Visit(func(f *flag.Flag) {
			if p, ok := secretFlags[f.Name]; ok {
				*p[1] = *p[0]
			}
		})
	}
	get := func(k string) string { return strings.TrimSpace(*vals[k]) }
	var c Config
	var err error
	c.Addr = get("PREGON_ADDR")
	if _, _, e := net.SplitHostPort(c.Addr); e != nil {
		return c, fmt.Errorf("PREGON_ADDR: %q is not host:port", c.Addr)
	}
	c.PublicURL = strings.TrimRight(get("PREGON_PUBLIC_URL"), "/")
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	} else if u, e := url.Parse(c.PublicURL); e != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("PREGON_PUBLIC_URL: %q is not an http(s) URL", c.PublicURL)
	}
	c.DatabaseURL = get("DATABASE_URL")
	if c.DatabaseURL != "" {
		if u, e := url.Parse(c.DatabaseURL); e != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return c, errors.New("DATABASE_URL: not a postgres:// URL")
		}
	}
	c.DataDir = get("PREGON_DATA_DIR")
	if c.DataDir == "" {
		return c, errors.New("PREGON_DATA_DIR: must not be empty")
	}
	if c.DataDir, err = filepath.Abs(c.DataDir); err != nil {
		return c, fmt.Errorf("PREGON_DATA_DIR: %w", err)
	}
	if k := get("PREGON_SECRET_KEY"); k != "" {
		if c.SecretKey, err = decodeKey(k); err != nil {
			return c, fmt.Errorf("PREGON_SECRET_KEY: %w", err)
		}
	}
	if c.Migrate, err = parseBool("PREGON_MIGRATE", get("PREGON_MIGRATE")); err != nil {
		return c, err
	}
	if c.Workers, err = parseBool("PREGON_WORKERS", get("PREGON_WORKERS")); err != nil {
		return c, err
	}
	if noWorkers {
		c.Workers = false
	}
	if c.Demo, err = parseBool("PREGON_DEMO", get("PREGON_DEMO")); err != nil {
		return c, err
	}
	c.LogFormat = get("PREGON_LOG_FORMAT")
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("PREGON_LOG_FORMAT: %q: want json or text", c.LogFormat)
	}
	c.LogLevel = get("PREGON_LOG_LEVEL")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("PREGON_LOG_LEVEL: %q: want debug, info, warn or error", c.LogLevel)
	}
	mb, err := strconv.Atoi(get("PREGON_UPLOAD_LIMIT_MB"))
	if err != nil || mb < 1 || mb > 10240 {
		return c, fmt.Errorf("PREGON_UPLOAD_LIMIT_MB: %q: want a whole number of MB between 1 and 10240", get("PREGON_UPLOAD_LIMIT_MB"))
	}
	c.UploadLimit = int64(mb) << 20
	c.Simulator = get("PREGON_SIMULATOR")
	if c.Simulator != "auto" && c.Simulator != "on" && c.Simulator != "off" {
		return c, fmt.Errorf("PREGON_SIMULATOR: %q: want auto, on or off", c.Simulator)
	}
	c.SimulatorURL = strings.TrimRight(get("PREGON_SIMULATOR_URL"), "/")
	if c.SimulatorURL == "" {
		c.SimulatorURL = "http://" + c.Addr + "/sim"
	} else if u, e := url.Parse(c.SimulatorURL); e != nil || u.Host == "" {
		return c, fmt.Errorf("PREGON_SIMULATOR_URL: %q is not a URL", c.SimulatorURL)
	}
	c.GraphURL = strings.TrimRight(get("PREGON_GRAPH_URL"), "/")
	if u, e := url.Parse(c.GraphURL); e != nil || u.Host == "" {
		return c, fmt.Errorf("PREGON_GRAPH_URL: %q is not a URL", c.GraphURL)
	}
	c.GraphVersion = get("PREGON_GRAPH_VERSION")
	if !strings.HasPrefix(c.GraphVersion, "v") {
		return c, fmt.Errorf("PREGON_GRAPH_VERSION: %q: want a version like v23.0", c.GraphVersion)
	}
	if c.ShutdownTimeout, err = time.ParseDuration(get("PREGON_SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		return c, fmt.Errorf("PREGON_SHUTDOWN_TIMEOUT: %q: want a duration like 20s", get("PREGON_SHUTDOWN_TIMEOUT"))
	}
	if c.WorkerDeadAfter, err = time.ParseDuration(get("PREGON_WORKER_DEAD_AFTER")); err != nil || c.WorkerDeadAfter < time.Second || c.WorkerDeadAfter > time.Hour {
		return c, fmt.Errorf("PREGON_WORKER_DEAD_AFTER: %q: want a duration from 1s to 1h, like 90s", get("PREGON_WORKER_DEAD_AFTER"))
	}
	if c.SendWorkers, err = strconv.Atoi(get("PREGON_SEND_WORKERS")); err != nil || c.SendWorkers < 1 || c.SendWorkers > 10000 {
		return c, fmt.Errorf("PREGON_SEND_WORKERS: %q: want a number from 1 to 10000", get("PREGON_SEND_WORKERS"))
	}
	c.RateCardFile = get("PREGON_RATE_CARD")
	c.MetricsToken = get("PREGON_METRICS_TOKEN")
	for _, e := range strings.Split(get("PREGON_ADMIN_EMAILS"), ",") {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			if !strings.Contains(e, "@") {
				return c, fmt.Errorf("PREGON_ADMIN_EMAILS: %q is not an e-mail address", e)
			}
			c.AdminEmails = append(c.AdminEmails, e)
		}
	}
	return c, nil
}

// EnsureSecretKey loads or creates DataDir/secret.key when no key was configured.
func (c *Config) EnsureSecretKey() error {
	if len(c.SecretKey) > 0 {
		return nil
	}
	path := filepath.Join(c.DataDir, "secret.key")
	if b, err := os.ReadFile(path); err == nil {
		key, err := decodeKey(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		c.SecretKey = key
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("PREGON_DATA_DIR: %s is not writable: %w", c.DataDir, err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("PREGON_DATA_DIR: writing %s: %w", path, err)
	}
	c.SecretKey = key
	return nil
}

func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex characters or base64")
}

// boolFlag is a yes/no flag kept as the text of its variable, so that the flag (--demo,
// --demo=false) and the environment (PREGON_DEMO=true) go through the same parseBool.
type boolFlag struct{ s *string }

func (b boolFlag) String() string {
	if b.s == nil {
		return "false"
	}
	return *b.s
}

func (b boolFlag) Set(v string) error {
	if _, err := parseBool("", v); err != nil {
		return errors.New("want true or false")
	}
	*b.s = v
	return nil
}

func (b boolFlag) IsBoolFlag() bool { return true }

// IsAdmin says whether email is one of the installation's operators.
func (c Config) IsAdmin(email string) bool {
	email = strings.ToLower(strings.TrimSpace(email))
	for _, a := range c.AdminEmails {
		if a == email {
			return true
		}
	}
	return false
}

func parseBool(name, s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s: %q: want true or false", name, s)
}
