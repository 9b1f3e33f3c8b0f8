package config

import (
	"flag"
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
		"PREGON_ADDR":             "nonsense",
		"DATABASE_URL":            "mysql://x",
		"PREGON_SECRET_KEY":       "too-short",
		"PREGON_MIGRATE":          "maybe",
		"PREGON_LOG_FORMAT":       "xml",
		"PREGON_LOG_LEVEL":        "loud",
		"PREGON_UPLOAD_LIMIT_MB":  "-3",
		"PREGON_SIMULATOR":        "sometimes",
		"PREGON_GRAPH_VERSION":    "23",
		"PREGON_SHUTDOWN_TIMEOUT": "soon",
		"PREGON_SEND_WORKERS":     "0",
		"PREGON_PUBLIC_URL":       "ftp://x",
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
