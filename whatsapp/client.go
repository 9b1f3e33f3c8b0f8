package whatsapp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults used by New when Config leaves a field empty.
const (
	DefaultBaseURL = "https://graph.facebook.com"
	DefaultVersion = "v23.0"
	DefaultTimeout = 30 * time.Second
)

// maxResponseBody bounds how much of a Graph response is read.
const maxResponseBody = 4 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the Graph API origin, without version. Default DefaultBaseURL.
	BaseURL string
	// Version is the Graph API version path segment. Default DefaultVersion.
	Version string
	// Token is the access token sent as "Authorization: Bearer". Sender numbers usually have
	// their own tokens: use Client.WithToken to get a copy carrying another one.
	Token string
	// Timeout bounds one request when the context has no earlier deadline. Default DefaultTimeout.
	Timeout time.Duration
	// HTTPClient replaces the pooled client built by NewTransport.
	HTTPClient *http.Client
	// UserAgent is sent on every request. Default "pregon".
	UserAgent string
}

// Client calls the Cloud API. It is safe for concurrent use; copies made by WithToken share
// the connection pool.
type Client struct {
	base      string // BaseURL + "/" + Version
	token     string
	timeout   time.Duration
	hc        *http.Client
	userAgent string
}

// NewTransport returns an HTTP transport sized for about 1,000 requests per second at 250 ms
// latency to a single host (Graph), with keep-alive and no per-host connection cap.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		MaxConnsPerHost:       0,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// New returns a Client for cfg, filling defaults.
func New(cfg Config) *Client {
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: NewTransport()}
	}
	base := strings.TrimRight(cmp.Or(cfg.BaseURL, DefaultBaseURL), "/")
	version := strings.Trim(cmp.Or(cfg.Version, DefaultVersion), "/")
	return &Client{
		base:      base + "/" + version,
		token:     cfg.Token,
		timeout:   cmp.Or(cfg.Timeout, DefaultTimeout),
		hc:        hc,
		userAgent: cmp.Or(cfg.UserAgent, "pregon"),
	}
}

// WithToken returns a cheap copy of c that authenticates with token and shares c's transport.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// do sends one request and decodes a 2xx JSON body into out (when out is non-nil). Any failure
// is returned as *Error whose Op says what was attempted.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	u := c.base + "/" + strings.TrimLeft(path, "/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s: encoding request: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	if _, ok := ctx.Deadline(); !ok && c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s: building request: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return &Error{Op: op, Network: true, Timeout: isTimeout(err), Message: err.Error(), Cause: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return &Error{Op: op, HTTPStatus: resp.StatusCode, Network: true, Timeout: isTimeout(err), Message: "reading response: " + err.Error(), Cause: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(op, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: decoding response (HTTP %d): %w", op, resp.StatusCode, err)
	}
	return nil
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
