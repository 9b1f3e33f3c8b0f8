package api

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/pregon/pregon/store"
)

type meResponse struct {
	User       *store.User        `json:"user,omitempty"`
	TokenID    int64              `json:"token_id,omitempty"`
	Workspace  store.Workspace    `json:"workspace"`
	Role       store.Role         `json:"role"`
	Workspaces []store.Membership `json:"workspaces"`
	CSRFToken  string             `json:"csrf_token,omitempty"`
}

func (s *Server) getMe(c echo.Context) error {
	ctx := c.Request().Context()
	p := principal(c)
	ws, err := store.WorkspaceGetByID(ctx, s.db, p.WorkspaceID)
	if err != nil {
		return err
	}
	res := meResponse{Workspace: ws, Role: p.Role, TokenID: p.TokenID, CSRFToken: p.CSRFToken}
	if p.UserID != 0 {
		u, err := store.UserGetInWorkspace(ctx, s.db, p.WorkspaceID, p.UserID)
		if err != nil {
			return err
		}
		res.User = &u
		if res.Workspaces, err = store.UserMemberships(ctx, s.db, p.UserID); err != nil {
			return err
		}
	} else {
		res.Workspaces = []store.Membership{{WorkspaceID: ws.ID, WorkspaceName: ws.Name, Role: p.Role}}
	}
	return c.JSON(http.StatusOK, res)
}

func (s *Server) getWorkspace(c echo.Context) error {
	ws, err := store.WorkspaceGetByID(c.Request().Context(), s.db, principal(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ws)
}

func (s *Server) patchWorkspace(c echo.Context) error {
	var u store.WorkspaceUpdate
	if err := bind(c, &u); err != nil {
		return err
	}
	ws, err := store.WorkspaceUpdateByID(c.Request().Context(), s.db, principal(c).WorkspaceID, u)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ws)
}

func (s *Server) listUsers(c echo.Context) error {
	users, err := store.UserList(c.Request().Context(), s.db, principal(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf[store.User]{Data: users})
}

type createUserRequest struct {
	Email    string     `json:"email"`
	Name     string     `json:"name"`
	Password string     `json:"password"`
	Role     store.Role `json:"role"`
}

func (s *Server) createUser(c echo.Context) error {
	var req createUserRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	u, err := store.UserCreate(c.Request().Context(), s.db, store.UserCreateParams{
		WorkspaceID: principal(c).WorkspaceID, Email: req.Email, Name: req.Name, Password: req.Password, Role: req.Role,
		ReservedEmails: s.cfg.AdminEmails,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, u)
}

type patchUserRequest struct {
	Role store.Role `json:"role"`
}

func (s *Server) patchUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req patchUserRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p := principal(c)
	if err := store.UserSetRole(c.Request().Context(), s.db, p.WorkspaceID, id, req.Role); err != nil {
		return err
	}
	u, err := store.UserGetInWorkspace(c.Request().Context(), s.db, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, u)
}

func (s *Server) deleteUser(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := store.UserRemove(c.Request().Context(), s.db, principal(c).WorkspaceID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) listTokens(c echo.Context) error {
	toks, err := store.APITokenList(c.Request().Context(), s.db, principal(c).WorkspaceID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, listOf[store.APIToken]{Data: toks})
}

type createTokenRequest struct {
	Name string     `json:"name"`
	Role store.Role `json:"role"`
}

type createTokenResponse struct {
	Token    string         `json:"token"`
	APIToken store.APIToken `json:"api_token"`
}

func (s *Server) createToken(c echo.Context) error {
	var req createTokenRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p := principal(c)
	var by *int64
	if p.UserID != 0 {
		by = &p.UserID
	}
	secret, tok, err := store.APITokenCreate(c.Request().Context(), s.db, store.APITokenCreateParams{
		WorkspaceID: p.WorkspaceID, Name: req.Name, Role: req.Role, CreatedBy: by,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, createTokenResponse{Token: secret, APIToken: tok})
}

func (s *Server) revokeToken(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := store.APITokenRevoke(c.Request().Context(), s.db, principal(c).WorkspaceID, id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// pathID reads the :id path parameter. A malformed id is a 404: it can name nothing.
func pathID(c echo.Context) (int64, error) {
	return pathInt(c, "id")
}

func pathInt(c echo.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

// pageParams reads ?limit= (1–500, default 50) and ?cursor= (the last id seen).
func pageParams(c echo.Context) (limit int, cursor int64, err error) {
	limit = 50
	if v := c.QueryParam("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 500 {
			return 0, 0, Errorf(http.StatusBadRequest, "bad_request", "limit debe ser un número entre 1 y 500")
		}
	}
	if v := c.QueryParam("cursor"); v != "" {
		if cursor, err = strconv.ParseInt(v, 10, 64); err != nil || cursor < 0 {
			return 0, 0, Errorf(http.StatusBadRequest, "bad_request", "cursor inválido")
		}
	}
	return limit, cursor, nil
}
