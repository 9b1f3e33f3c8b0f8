package sim_test

import (
	"errors"

	"github.com/pregon/pregon/whatsapp"
)

func asErr(err error, target **whatsapp.Error) bool { return errors.As(err, target) }
