package events

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/intrusion"
)

// webhookSink posts events in batches (a JSON array) to each configured
// URL, signed as intrusion alerts are (intrusion.Sign), retried with
// exponential backoff. One queue and one worker per URL: a slow receiver
// delays only itself.
type webhookSink struct {
	s        *Stream
	hooks    []*eventHook
	batch    int
	interval time.Duration
	retries  int
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type eventHook struct {
	url    string
	secret []byte
	client *http.Client // intrusion.WebhookClient: the gateway's TLS policy, the hook's tls block
	queue  chan []byte
}

const (
	defaultBatch    = 100
	defaultInterval = time.Second
	backoffBase     = 200 * time.Millisecond
	backoffMax      = 5 * time.Second
)

func newWebhookSink(cfg config.SecurityEvents, s *Stream) (*webhookSink, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &webhookSink{s: s, batch: cfg.WebhookBatchSize, interval: cfg.WebhookBatchInterval.Or(defaultInterval),
		retries: 3, ctx: ctx, cancel: cancel}
	if w.batch <= 0 {
		w.batch = defaultBatch
	}
	if r := cfg.WebhookRetries; r != nil {
		w.retries = *r // 0: one attempt
	}
	var log *slog.Logger
	if s != nil {
		log = s.log
	}
	for i, wc := range cfg.Webhooks {
		client, err := intrusion.WebhookClient(wc, cfg.WebhookTimeout.Or(2*time.Second), log)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("observability.security_events.webhooks[%d].%w", i, err)
		}
		h := &eventHook{url: wc.URL, secret: []byte(wc.Secret), client: client, queue: make(chan []byte, queueSize)}
		w.hooks = append(w.hooks, h)
		w.wg.Add(1)
		go w.run(h)
	}
	return w, nil
}

func (w *webhookSink) name() string { return "webhook" }

func (w *webhookSink) send(_ *Event, line []byte) {
	body := bytes.TrimSuffix(line, []byte{'\n'})
	for _, h := range w.hooks {
		select {
		case h.queue <- body:
		default:
			w.s.dropped.WithLabelValues("webhook").Inc()
		}
	}
}

// run collects up to batch events, or what arrived within interval of the
// first, and delivers them as one JSON array.
func (w *webhookSink) run(h *eventHook) {
	defer w.wg.Done()
	var pending [][]byte
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(pending) == 0 {
			return
		}
		body := append([]byte{'['}, bytes.Join(pending, []byte{','})...)
		body = append(body, ']')
		pending = pending[:0]
		w.deliver(h, body)
	}
	for {
		select {
		case <-w.ctx.Done():
			// Drain what is queued, with one attempt each: shutdown is
			// bounded by the delivery timeout.
			for {
				select {
				case ev := <-h.queue:
					pending = append(pending, ev)
					if len(pending) >= w.batch {
						flush()
					}
				default:
					flush()
					return
				}
			}
		case ev := <-h.queue:
			if len(pending) == 0 {
				timer.Reset(w.interval)
			}
			pending = append(pending, ev)
			if len(pending) >= w.batch {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

func (w *webhookSink) deliver(h *eventHook, body []byte) {
	delay := backoffBase
	for attempt := 0; ; attempt++ {
		err := w.post(h, body)
		if err == nil {
			w.s.delivered.WithLabelValues("webhook", "sent").Inc()
			return
		}
		if attempt >= w.retries || w.ctx.Err() != nil {
			w.s.delivered.WithLabelValues("webhook", "failed").Inc()
			// The URL may carry a token in its path; it is not logged.
			w.s.log.Warn("security events not delivered to a webhook", "attempts", attempt+1, "error", err)
			return
		}
		select {
		case <-w.ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, backoffMax)
	}
}

func (w *webhookSink) post(h *eventHook, body []byte) error {
	// Shutdown drains with its own short deadline, not the closed context.
	ctx, cancel := context.WithTimeout(context.Background(), h.client.Timeout)
	defer cancel()
	return intrusion.PostSigned(ctx, h.client, h.url, "portcullis-events", h.secret, body)
}

func (w *webhookSink) close() {
	w.cancel()
	w.wg.Wait()
	for _, h := range w.hooks {
		h.client.CloseIdleConnections() // its own pool: a reload makes a new one
	}
}
