// Package metaspec is Meta's OpenAPI document of the WhatsApp Business Messaging API (v23.0,
// MIT licensed, see LICENSE-meta-openapi), the contract the Graph client and the simulator are
// checked against in their tests. It is a copy of shared/contracts/ kept in the repository so
// that those tests run in every checkout instead of skipping where shared/ is not beside it.
package metaspec

import (
	_ "embed"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// File is the document's file name, as Meta publishes it.
const File = "whatsapp-business-messaging-api_v23.0.yaml"

//go:embed whatsapp-business-messaging-api_v23.0.yaml
var document []byte

var (
	once sync.Once
	doc  *openapi3.T
	err  error
)

// Load parses the document once per process.
func Load() (*openapi3.T, error) {
	once.Do(func() {
		doc, err = openapi3.NewLoader().LoadFromData(document)
		if err != nil {
			err = fmt.Errorf("loading Meta's OpenAPI document %s: %w", File, err)
		}
	})
	return doc, err
}
