package whatsapp

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// specPath is where Meta's OpenAPI document sits in a checkout: shared/ beside the repo root.
const specPath = "../../shared/contracts/whatsapp-business-messaging-api_v23.0.yaml"

var (
	specOnce sync.Once
	specDoc  *openapi3.T
	specErr  error
)

// loadSpec loads the OpenAPI document once per test binary; it skips the test only when the
// file does not exist.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	if _, err := os.Stat(specPath); os.IsNotExist(err) {
		t.Skipf("OpenAPI document not found at %s", specPath)
	}
	specOnce.Do(func() {
		abs, _ := filepath.Abs(specPath)
		l := openapi3.NewLoader()
		specDoc, specErr = l.LoadFromFile(abs)
	})
	if specErr != nil {
		t.Fatalf("loading %s: %v", specPath, specErr)
	}
	return specDoc
}
