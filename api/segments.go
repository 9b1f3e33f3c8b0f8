package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/segments"
	"github.com/pregon/pregon/store"
)

// segmentInput is the body of POST and PATCH /segments. Definition is a segments.Definition
// (see the segments package: {"all":[…]}, {"any":[…]}, {"not":{…}}, conditions
// {"field":…, "op":…, "value":…}); it is validated before it is saved.
type segmentInput struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Definition  json.RawMessage `json:"definition"`
}

// segmentInputDoc describes segmentInput in the OpenAPI document (the definition is an object).
type segmentInputDoc struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Definition  map[string]any `json:"definition"`
}

// segmentPreviewRequest is the body of POST /segments/preview.
type segmentPreviewRequest struct {
	Definition json.RawMessage `json:"definition"`
}

type segmentPreviewRequestDoc struct {
	Definition map[string]any `json:"definition"`
}

// segmentResponse is a segment with what its definition means now.
type segmentResponse struct {
	store.Segment
	// Broadcast: no condition, the segment is the whole eligible base.
	Broadcast bool `json:"broadcast"`
	// Hash of the canonical definition (what a campaign freezes at launch).
	Hash string `json:"hash"`
	// EligibleCount is the audience now; absent with ?counts=false or if counting failed.
	EligibleCount *int64 `json:"eligible_count,omitempty"`
}

// segmentCountTimeout bounds each count of a list so one heavy segment cannot hang the page.
const segmentCountTimeout = 10 * time.Second

// checkDefinition parses and validates a definition from a request, including that the
// campaigns and imports it names exist in the workspace. Problems come back as a 422 with
// paths under "definition" ("definition.all[0].value").
func (s *Server) checkDefinition(ctx context.Context, workspaceID int64, raw json.RawMessage) (segments.Definition, error) {
	def, err := parseDefinition(raw)
	if err != nil {
		return def, err
	}
	problems, err := segments.CheckReferences(ctx, s.db, workspaceID, def)
	if err != nil {
		return def, err
	}
	if problems != nil {
		return def, prefixProblems(problems)
	}
	return def, nil
}

// parseDefinition parses and validates a definition (no database look-ups).
func parseDefinition(raw json.RawMessage) (segments.Definition, error) {
	def, err := segments.Parse(raw)
	if err != nil {
		var ve *store.ValidationError
		if errors.As(err, &ve) {
			return def, prefixProblems(ve.Problems)
		}
		return def, err
	}
	if problems := def.Validate(); problems != nil {
		return def, prefixProblems(problems)
	}
	return def, nil
}

func prefixProblems(problems []store.Problem) error {
	out := make([]store.Problem, len(problems))
	for i, p := range problems {
		out[i] = store.Problem{Path: "definition" + strings.TrimPrefix(p.Path, "$"), Message: p.Message}
	}
	return &store.ValidationError{Problems: out}
}

// describeSegment describes sg; count adds the eligible count (loc: the workspace's zone).
func (s *Server) describeSegment(ctx context.Context, sg store.Segment, loc *time.Location, count bool) segmentResponse {
	res := segmentResponse{Segment: sg}
	def, err := segments.Parse(sg.Definition)
	if err != nil {
		return res
	}
	res.Broadcast, res.Hash = def.IsEmpty(), def.Hash()
	if count {
		ctx, cancel := context.WithTimeout(ctx, segmentCountTimeout)
		defer cancel()
		n, err := segments.Count(ctx, s.db, sg.WorkspaceID, def, segments.CompileOptions{Now: time.Now(), Location: loc})
		if err != nil {
			s.log.WarnContext(ctx, "counting a segment", "segment_id", sg.ID, "error", err.Error())
			return res
		}
		res.EligibleCount = &n
	}
	return res
}

func (s *Server) workspaceLocation(ctx context.Context, workspaceID int64) (*time.Location, error) {
	ws, err := store.WorkspaceGetByID(ctx, s.db, workspaceID)
	if err != nil {
		return nil, err
	}
	return ws.Location(), nil
}

func (s *Server) listSegments(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	limit, cursor, err := pageParams(c)
	if err != nil {
		return err
	}
	list, err := store.SegmentList(ctx, s.db, p.WorkspaceID, store.SegmentFilter{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	loc, err := s.workspaceLocation(ctx, p.WorkspaceID)
	if err != nil {
		return err
	}
	count := c.QueryParam("counts") != "false"
	out := listOf[segmentResponse]{Data: make([]segmentResponse, len(list))}
	// Counts run a few at a time on the pool: one page costs the slowest few, not the sum.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, sg := range list {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out.Data[i] = s.describeSegment(ctx, sg, loc, count)
		}()
	}
	wg.Wait()
	if len(list) == limit {
		next := list[len(list)-1].ID
		out.NextCursor = &next
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getSegment(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	sg, err := store.SegmentGetByID(ctx, s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	loc, err := s.workspaceLocation(ctx, p.WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.describeSegment(ctx, sg, loc, c.QueryParam("counts") != "false"))
}

func (s *Server) createSegment(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	var in segmentInput
	if err := bind(c, &in); err != nil {
		return err
	}
	def, err := s.checkDefinition(ctx, p.WorkspaceID, in.Definition)
	if err != nil {
		return err
	}
	canonical, err := def.MarshalJSON()
	if err != nil {
		return err
	}
	params := store.SegmentCreateParams{WorkspaceID: p.WorkspaceID, Definition: canonical}
	if in.Name != nil {
		params.Name = *in.Name
	}
	if in.Description != nil {
		params.Description = *in.Description
	}
	if p.UserID != 0 {
		params.CreatedBy = &p.UserID
	}
	sg, err := store.SegmentCreate(ctx, s.db, params)
	if err != nil {
		return err
	}
	loc, err := s.workspaceLocation(ctx, p.WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.describeSegment(ctx, sg, loc, true))
}

func (s *Server) patchSegment(c echo.Context) error {
	ctx := c.Request().Context()
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	var in segmentInput
	if err := bind(c, &in); err != nil {
		return err
	}
	u := store.SegmentUpdate{Name: in.Name, Description: in.Description}
	if len(in.Definition) > 0 {
		def, err := s.checkDefinition(ctx, p.WorkspaceID, in.Definition)
		if err != nil {
			return err
		}
		if u.Definition, err = def.MarshalJSON(); err != nil {
			return err
		}
	}
	sg, err := store.SegmentUpdateByID(ctx, s.db, p.WorkspaceID, id, u)
	if err != nil {
		return err
	}
	loc, err := s.workspaceLocation(ctx, p.WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.describeSegment(ctx, sg, loc, true))
}

func (s *Server) deleteSegment(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := store.SegmentDelete(c.Request().Context(), s.db, principal(c).WorkspaceID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// postSegmentPreview previews an unsaved definition (the editor calls it as the user types).
func (s *Server) postSegmentPreview(c echo.Context) error {
	var in segmentPreviewRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	def, err := s.checkDefinition(c.Request().Context(), principal(c).WorkspaceID, in.Definition)
	if err != nil {
		return err
	}
	return s.segmentPreview(c, def)
}

func (s *Server) getSegmentPreview(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	sg, err := store.SegmentGetByID(c.Request().Context(), s.db, principal(c).WorkspaceID, id)
	if err != nil {
		return err
	}
	def, err := parseDefinition(sg.Definition)
	if err != nil {
		return err
	}
	return s.segmentPreview(c, def)
}

func (s *Server) segmentPreview(c echo.Context, def segments.Definition) error {
	res, err := segments.Preview(c.Request().Context(), s.db, principal(c).WorkspaceID, def, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
