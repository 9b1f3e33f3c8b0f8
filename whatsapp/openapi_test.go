package whatsapp

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/pregon/pregon/internal/metaspec"
)

// loadSpec is Meta's OpenAPI document (internal/metaspec, a copy of shared/contracts/).
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := metaspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
