package whatsapp

import (
	"encoding/json"
	"errors"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func asError(err error, target **Error) bool { return errors.As(err, target) }

func errorsIs(err, target error) bool { return errors.Is(err, target) }
