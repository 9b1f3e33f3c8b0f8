package whatsapp

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/openapi from the OpenAPI document")

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(slugRE.ReplaceAllString(strings.ToLower(s), "_"), "_")
}

// TestOpenAPIWebhookExamplesInTestdata keeps testdata/openapi/*.json equal to every example of
// the /whatsapp/webhooks request body in Meta's document (go test -run OpenAPIWebhook -update
// rewrites them).
func TestOpenAPIWebhookExamplesInTestdata(t *testing.T) {
	doc := loadSpec(t)
	p := doc.Paths.Find("/whatsapp/webhooks")
	if p == nil || p.Post == nil || p.Post.RequestBody == nil {
		t.Fatal("spec has no POST /whatsapp/webhooks request body")
	}
	examples := p.Post.RequestBody.Value.Content["application/json"].Examples
	if len(examples) < 10 {
		t.Fatalf("expected the spec's webhook examples, found %d", len(examples))
	}
	dir := filepath.Join("testdata", "openapi")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	names := make([]string, 0, len(examples))
	for name := range examples {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want, err := json.MarshalIndent(examples[name].Value.Value, "", "  ")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		file := filepath.Join(dir, slug(name)+".json")
		if *update {
			if err := os.WriteFile(file, append(want, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("example %q has no testdata file (run with -update): %v", name, err)
			continue
		}
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Errorf("%s differs from the spec's example %q (run with -update)", file, name)
		}
	}
}
