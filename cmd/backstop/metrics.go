package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"backstop/mailbox"
	"backstop/workflow"
)

// Metric names, documented in the README ("Health and metrics"). Labels
// carry classes, verbs and states: never content, never addresses.
const (
	metricMessages      = "backstop_messages_handled_total"
	metricIncidents     = "backstop_incidents_opened_total"
	metricCommands      = "backstop_commands_total"
	metricRefused       = "backstop_commands_refused_total"
	metricOutbox        = "backstop_outbox_messages"
	metricSendAttempts  = "backstop_smtp_send_attempts_total"
	metricSendFailures  = "backstop_smtp_send_failures_total"
	metricHeldBack      = "backstop_notices_held_back_total"
	metricReconnects    = "backstop_imap_reconnects_total"
	metricLastActivity  = "backstop_imap_last_activity_timestamp_seconds"
	metricWatching      = "backstop_imap_watching"
	metricSMTPReachable = "backstop_smtp_reachable"
	metricParse         = "backstop_parse_duration_seconds"
	metricBuild         = "backstop_build_info"
)

// metrics are backstop's Prometheus collectors, on their own registry.
type metrics struct {
	reg          *prometheus.Registry
	commands     *prometheus.CounterVec
	sendAttempts prometheus.Counter
	sendFailures *prometheus.CounterVec
	parse        prometheus.Histogram
}

// newMetrics registers the collectors. Counts kept in the store (messages,
// incidents, outbox, refusals, notices held back) are read from it at each
// scrape, so they survive restarts.
func newMetrics(store *workflow.Store, status func() mailbox.WatchStatus, smtp *smtpHealth, log *slog.Logger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricCommands, Help: "Lead and reporter commands carried out since start, by verb and outcome (done, refused, unknown).",
		}, []string{"verb", "outcome"}),
		sendAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricSendAttempts, Help: "SMTP send attempts since start.",
		}),
		sendFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricSendFailures, Help: "SMTP send attempts that failed since start, by kind: temporary (retried), permanent, uncertain (may have been delivered).",
		}, []string{"kind"}),
		parse: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metricParse, Help: "Time to parse one message (MIME, forwards, replies).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8), // 0.5ms … 8s
		}),
	}
	for _, kind := range []string{"temporary", "permanent", "uncertain"} {
		m.sendFailures.WithLabelValues(kind)
	}
	version, revision := buildVersion()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: metricBuild, Help: "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision},
	})
	build.Set(1)
	m.reg.MustRegister(m.commands, m.sendAttempts, m.sendFailures, m.parse, build,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: metricReconnects, Help: "IMAP connections that ended and were opened again since start.",
		}, func() float64 { return float64(status().Reconnects) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricLastActivity, Help: "Unix time of the IMAP server's last answer (0: none yet).",
		}, func() float64 {
			if t := status().LastActivity; !t.IsZero() {
				return float64(t.UnixNano()) / 1e9
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricWatching, Help: "1 while the watched mailbox is open and watched, else 0.",
		}, func() float64 { return b2f(status().Watching) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: metricSMTPReachable, Help: "1 when the SMTP server was reachable at the last try (or none was made yet), else 0.",
		}, func() float64 { ok, _ := smtp.state(); return b2f(ok) }),
		&storeCollector{store: store, log: log},
	)
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// CommandDone implements workflow.Observer.
func (m *metrics) CommandDone(verb, outcome string) {
	if verb == "" {
		verb = "none"
	}
	m.commands.WithLabelValues(verb, outcome).Inc()
}

// sent records one send attempt's result.
func (m *metrics) sent(err error) {
	m.sendAttempts.Inc()
	if err == nil {
		return
	}
	var se *mailbox.SendError
	switch {
	case errors.As(err, &se) && se.DeliveryUncertain():
		m.sendFailures.WithLabelValues("uncertain").Inc()
	case errors.As(err, &se) && se.Temporary():
		m.sendFailures.WithLabelValues("temporary").Inc()
	default:
		m.sendFailures.WithLabelValues("permanent").Inc()
	}
}

// storeCollector reads the counts the store keeps.
type storeCollector struct {
	store *workflow.Store
	log   *slog.Logger
}

var (
	descMessages  = prometheus.NewDesc(metricMessages, "Messages recorded, by class (forward, reply, auto_reply, quarantined classes, …).", []string{"class"}, nil)
	descIncidents = prometheus.NewDesc(metricIncidents, "Incidents opened.", nil, nil)
	descOutbox    = prometheus.NewDesc(metricOutbox, "Outgoing emails, by state (held, queued, sending, sent, failed, …).", []string{"state"}, nil)
	descRefused   = prometheus.NewDesc(metricRefused, "Commands refused (sender not verified, not allowed in the incident's state, caps).", nil, nil)
	descHeldBack  = prometheus.NewDesc(metricHeldBack, "Notices held back by the caps (each reported to the leads).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descIncidents, descOutbox, descRefused, descHeldBack} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.store.Stats(ctx)
	if err != nil {
		c.log.Warn("metrics: reading the store", "err", err)
		ch <- prometheus.NewInvalidMetric(descMessages, err)
		return
	}
	events, err := c.store.EventCounts(ctx)
	if err != nil {
		c.log.Warn("metrics: reading the store", "err", err)
		ch <- prometheus.NewInvalidMetric(descRefused, err)
		return
	}
	for class, n := range st.Messages {
		ch <- prometheus.MustNewConstMetric(descMessages, prometheus.CounterValue, float64(n), class)
	}
	ch <- prometheus.MustNewConstMetric(descIncidents, prometheus.CounterValue, float64(st.Incidents))
	for state, n := range st.Outbox {
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(events[workflow.EventRefused]))
	ch <- prometheus.MustNewConstMetric(descHeldBack, prometheus.CounterValue, float64(events[workflow.EventNoticeHeldBack]))
}
