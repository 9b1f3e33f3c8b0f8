package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/store"
)

// Error is an error with an HTTP status, a stable code and a message safe to show.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var (
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "autenticación requerida: token Bearer válido o sesión iniciada"}
	errForbidden    = &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "su rol no permite esta acción"}
	errNotFound     = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no encontrado"}
)

// handleError is the one place where errors become HTTP responses.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		apiErr   *Error
		valErr   *store.ValidationError
		fieldErr *store.FieldConflictError
		echoErr  *echo.HTTPError
	)
	out := &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "error interno; el equipo puede rastrearlo con el request id"}
	switch {
	case errors.As(err, &apiErr):
		out = apiErr
	case errors.As(err, &valErr):
		out = &Error{Status: http.StatusUnprocessableEntity, Code: "invalid", Message: valErr.Error(), Details: valErr.Problems}
	case errors.Is(err, store.ErrNotFound):
		out = errNotFound
	case errors.As(err, &fieldErr):
		// The field is in details, as a validation problem's, so a form shows it next to it.
		out = &Error{Status: http.StatusConflict, Code: "conflict", Message: fieldErr.Message,
			Details: []store.Problem{{Path: fieldErr.Path, Message: fieldErr.Message}}}
	case errors.Is(err, store.ErrConflict):
		out = &Error{Status: http.StatusConflict, Code: "conflict", Message: ConflictMessage(err)}
	case errors.Is(err, store.ErrForbidden):
		out = errForbidden
	case store.IsTextNotStorable(err):
		out = &Error{Status: http.StatusUnprocessableEntity, Code: "invalid",
			Message: "el texto contiene un carácter que no se puede guardar (el carácter nulo, \\u0000); quítelo y reintente"}
	case errors.As(err, &echoErr):
		out = &Error{Status: echoErr.Code, Code: codeForStatus(echoErr.Code), Message: fmt.Sprint(echoErr.Message)}
	default:
		s.log.ErrorContext(c.Request().Context(), "request failed", "error", err.Error(),
			"path", c.Path(), "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(out.Status)
		return
	}
	c.JSON(out.Status, out)
}

// ConflictMessage is the human part of a conflict. The store wraps store.ErrConflict as
// "conflict: <message>" (or "<message>: conflict"): the sentinel's word is for code that
// branches on it, not for the person reading the message.
func ConflictMessage(err error) string {
	msg, word := err.Error(), store.ErrConflict.Error()
	if rest, ok := strings.CutPrefix(msg, word+": "); ok {
		msg = rest
	} else if i := strings.Index(msg, ": "+word+": "); i >= 0 {
		msg = msg[:i+2] + msg[i+len(word)+4:]
	}
	return strings.TrimSuffix(msg, ": "+word)
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}

// bindStrict decodes a JSON body into v like bind, refusing fields v does not have: a
// misspelled field ("nombre", "tag") is an error, not an update that silently does nothing.
func bindStrict(c echo.Context, v any) error {
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "cuerpo de la petición vacío: se espera un objeto JSON"}
		}
		msg := err.Error()
		if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			msg = "campo desconocido " + f
		}
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "cuerpo de la petición inválido: " + msg}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "cuerpo de la petición inválido: hay datos después del objeto JSON"}
	}
	return nil
}

// bind decodes the request body into v and turns decoding errors into a 400 with the reason.
func bind(c echo.Context, v any) error {
	if err := c.Bind(v); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf("cuerpo de la petición inválido: %v", he.Message)}
		}
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "cuerpo de la petición inválido: " + err.Error()}
	}
	return nil
}
