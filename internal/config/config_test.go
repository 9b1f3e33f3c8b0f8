package config

import (
	"bytes"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsNeedNoConfiguration(t *testing.T) {
	c, err := Load(env(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || c.DatabaseURL != "" || !c.Migrate || !c.Workers || c.UploadLimit != 100<<20 || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEveryBadValueNamesItsVariable(t *testing.T) {
	cases := map[string]string{
		"PREGON_ADDR":              "nonsense",
		"DATABASE_URL":             "mysql://x",
		"PREGON_SECRET_KEY":        "too-short",
		"PREGON_MIGRATE":           "maybe",
		"PREGON_LOG_FORMAT":        "xml",
		"PREGON_LOG_LEVEL":         "loud",
		"PREGON_UPLOAD_LIMIT_MB":   "-3",
		"PREGON_SIMULATOR":         "sometimes",
		"PREGON_GRAPH_VERSION":     "23",
		"PREGON_SHUTDOWN_TIMEOUT":  "soon",
		"PREGON_SEND_WORKERS":      "0",
		"PREGON_WORKER_DEAD_AFTER": "500ms",
		"PREGON_PUBLIC_URL":        "ftp://x",
	}
	for name, val := range cases {
		_, err := Load(env(map[string]string{name: val}), nil, nil)
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("%s=%q: error %v, want one naming %s", name, val, err, name)
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c, err := Load(env(map[string]string{"PREGON_ADDR": "127.0.0.1:1"}), fs, []string{"--addr", "127.0.0.1:2", "--no-workers"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:2" || c.Workers {
		t.Fatalf("flags not applied: addr %s workers %v", c.Addr, c.Workers)
	}
}

func TestSecretKeyIsGeneratedOnceAndReused(t *testing.T) {
	dir := t.TempDir()
	c, _ := Load(env(map[string]string{"PREGON_DATA_DIR": dir}), nil, nil)
	if err := c.EnsureSecretKey(); err != nil {
		t.Fatal(err)
	}
	c2, _ := Load(env(map[string]string{"PREGON_DATA_DIR": dir}), nil, nil)
	if err := c2.EnsureSecretKey(); err != nil {
		t.Fatal(err)
	}
	if len(c.SecretKey) != 32 || string(c.SecretKey) != string(c2.SecretKey) {
		t.Fatal("key not reused")
	}
	info, _ := os.Stat(dir + "/secret.key")
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("secret.key mode %v", info.Mode().Perm())
	}
}

func TestREADMEDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars {
		if !strings.Contains(string(b), "`"+v.Env+"`") {
			t.Errorf("README.md does not document %s", v.Env)
		}
	}
}

func TestYesNoFlagsAreBooleans(t *testing.T) {
	load := func(getenv map[string]string, args ...string) (Config, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		return Load(env(getenv), fs, args)
	}
	for _, tt := range []struct {
		env                   map[string]string
		args                  []string
		demo, migrate, worker bool
	}{
		{nil, []string{"--demo"}, true, true, true},
		{nil, []string{"--demo", "--migrate=false", "--workers=false"}, true, false, false},
		{map[string]string{"PREGON_DEMO": "true"}, nil, true, true, true},
		{map[string]string{"PREGON_DEMO": "yes", "PREGON_MIGRATE": "off"}, []string{"--demo=false"}, false, false, true},
		{map[string]string{"PREGON_WORKERS": "false"}, []string{"-workers"}, false, true, true},
		{nil, []string{"--no-workers"}, false, true, false},
	} {
		c, err := load(tt.env, tt.args...)
		if err != nil {
			t.Errorf("%v %v: %v", tt.env, tt.args, err)
			continue
		}
		if c.Demo != tt.demo || c.Migrate != tt.migrate || c.Workers != tt.worker {
			t.Errorf("%v %v: demo %v migrate %v workers %v, want %v %v %v", tt.env, tt.args, c.Demo, c.Migrate, c.Workers, tt.demo, tt.migrate, tt.worker)
		}
	}
	if _, err := load(nil, "--demo=maybe"); err == nil || !strings.Contains(err.Error(), "want true or false") {
		t.Errorf("--demo=maybe: %v", err)
	}
	// A yes/no setting is a boolean flag; the others take a value.
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	Load(env(nil), fs, nil)
	for _, v := range Vars {
		if v.Flag == "" {
			continue
		}
		f := fs.Lookup(v.Flag)
		b, isBool := f.Value.(interface{ IsBoolFlag() bool })
		if got := isBool && b.IsBoolFlag(); got != v.Bool() {
			t.Errorf("--%s: boolean %v, want %v", v.Flag, got, v.Bool())
		}
	}
}

func TestServeHelpIsReadable(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var help bytes.Buffer
	fs.SetOutput(&help)
	if _, err := Load(env(nil), fs, []string{"--help"}); err != flag.ErrHelp {
		t.Fatalf("--help: %v", err)
	}
	for _, v := range Vars {
		if strings.Contains(v.Help, "`") {
			t.Errorf("%s: a back-quote in its help becomes the flag's argument name: %q", v.Env, v.Help)
		}
	}
	for _, line := range strings.Split(help.String(), "\n") {
		if !strings.HasPrefix(line, "  -") {
			continue
		}
		name, arg, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
		var v Var
		for _, x := range Vars {
			if x.Flag == name {
				v = x
			}
		}
		switch {
		case v.Env == "": // --no-workers
		case v.Bool() && arg != "":
			t.Errorf("help line %q: a yes/no flag takes no argument", line)
		case !v.Bool() && arg != "string":
			t.Errorf("help line %q: argument %q, want string", line, arg)
		}
	}
	for _, want := range []string{"  -demo\n", "(PREGON_DEMO)", "  -workers\n", "  -no-workers\n"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help does not contain %q:\n%s", want, help.String())
		}
	}
}
