// Package metrics defines Pregón's Prometheus collectors in one place, so every package counts
// into the same names, and serves them at /metrics.
package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

var (
	// Sends counts send attempts by outcome (sent, retry, failed, paused, halted, unknown) and
	// Meta error code ("" when none).
	Sends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pregon_sends_total", Help: "Template sends by outcome and Meta error code.",
	}, []string{"outcome", "error_code"})
	// SendLatency is the Cloud API call latency.
	SendLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "pregon_send_latency_seconds", Help: "Cloud API send call latency.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
	})
	// PacingReleased counts recipients released by the pacer, per sender number.
	PacingReleased = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pregon_pacing_released_total", Help: "Recipients released by the pacer.",
	}, []string{"sender_number_id"})
	// BudgetRemaining is the messaging-limit budget left in the rolling 24 h, per workspace.
	BudgetRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pregon_messaging_budget_remaining", Help: "Unique recipients left in the rolling 24 h (-1 unlimited).",
	}, []string{"workspace_id"})
	// ThroughputUsed is the last tick's release rate against the number's throughput.
	ThroughputUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pregon_throughput_used_ratio", Help: "Share of the number's msg/s used in the last pacing tick.",
	}, []string{"sender_number_id"})
	// WebhookRequests counts webhook POSTs by result (accepted, bad_signature, unroutable, too_large, error).
	WebhookRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pregon_webhook_requests_total", Help: "Webhook requests by result.",
	}, []string{"result"})
	// WebhookAckLatency is the time from receiving a webhook to answering it.
	WebhookAckLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "pregon_webhook_ack_seconds", Help: "Webhook acknowledgement latency.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	// WebhookEvents counts processed webhook items by kind (status, message, template, number…).
	WebhookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pregon_webhook_events_total", Help: "Processed webhook items by kind.",
	}, []string{"kind"})
	// ImportRows counts imported rows by result (inserted, updated, unchanged, rejected).
	ImportRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pregon_import_rows_total", Help: "Contact import rows by result.",
	}, []string{"result"})
	// CampaignPauses counts automatic and manual pauses by signal.
	CampaignPauses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pregon_campaign_pauses_total", Help: "Campaign pauses by signal.",
	}, []string{"signal"})
)

// Registry holds every collector plus Go/process metrics and, when db is set, queue depths
// read from River's table at scrape time.
func Registry(db *pgxpool.Pool, log *slog.Logger) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.MustRegister(Sends, SendLatency, PacingReleased, BudgetRemaining, ThroughputUsed,
		WebhookRequests, WebhookAckLatency, WebhookEvents, ImportRows, CampaignPauses)
	if db != nil {
		r.MustRegister(&queueCollector{db: db, log: log})
	}
	return r
}

var queueDepthDesc = prometheus.NewDesc("pregon_queue_jobs", "River jobs by queue and state.", []string{"queue", "state"}, nil)

type queueCollector struct {
	db  *pgxpool.Pool
	log *slog.Logger
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDepthDesc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := q.db.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job
		WHERE state IN ('available', 'running', 'scheduled', 'retryable') GROUP BY 1, 2`)
	if err != nil {
		if q.log != nil {
			q.log.Warn("reading queue depths for metrics", "error", err)
		}
		return
	}
	defer rows.Close()
	for rows.Next() {
		var queue, state string
		var n float64
		if rows.Scan(&queue, &state, &n) == nil {
			ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, n, queue, state)
		}
	}
}
