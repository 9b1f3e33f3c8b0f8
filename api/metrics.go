package api

import (
	"crypto/subtle"
	"net"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pregon/pregon/internal/metrics"
)

// metricsHandler serves Prometheus metrics to a scraper presenting PREGON_METRICS_TOKEN, or to
// loopback clients when no token is configured.
func (s *Server) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(metrics.Registry(s.db, s.log), promhttp.HandlerOpts{})
	return func(c echo.Context) error {
		if s.cfg.MetricsToken != "" {
			want := "Bearer " + s.cfg.MetricsToken
			if subtle.ConstantTimeCompare([]byte(c.Request().Header.Get(echo.HeaderAuthorization)), []byte(want)) != 1 {
				return errUnauthorized
			}
		} else if ip := net.ParseIP(c.RealIP()); ip == nil || !ip.IsLoopback() {
			return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "set PREGON_METRICS_TOKEN to scrape /metrics from another host"}
		}
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
