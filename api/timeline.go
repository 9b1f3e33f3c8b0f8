package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/store"
)

// timelineResponse is a page of a contact's timeline, newest first. next_before is the `before`
// of the next page.
type timelineResponse struct {
	Data       []store.TimelineItem `json:"data"`
	NextBefore *time.Time           `json:"next_before,omitempty"`
}

// getContactTimeline lists what happened with a contact, newest first: inbound messages,
// campaign sends with their delivery statuses, replies and opt-outs, messages the owner sent
// from the phone app (echoes) and synced history. ?limit= (≤ 500) and ?before= (RFC 3339).
func (s *Server) getContactTimeline(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	limit := 100
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return store.Invalid("limit", "debe ser un número entre 1 y 500")
		}
	}
	var before time.Time
	if v := c.QueryParam("before"); v != "" {
		if before, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return store.Invalid("before", "debe ser una fecha RFC 3339, p. ej. 2026-11-25T10:00:00Z")
		}
	}
	items, err := store.ContactTimeline(c.Request().Context(), s.db, principal(c).WorkspaceID, id, before, limit)
	if err != nil {
		return err
	}
	out := timelineResponse{Data: items}
	if len(items) == limit {
		t := items[len(items)-1].At
		out.NextBefore = &t
	}
	return c.JSON(http.StatusOK, out)
}
