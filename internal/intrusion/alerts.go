package intrusion

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// Alert is what a webhook receives, as JSON.
type Alert struct {
	// Type is "ban" (the client is banned) or "threshold" (a rule with no
	// ban fired).
	Type   string `json:"type"`
	Event  string `json:"event"`
	Client string `json:"client"`
	// ClientNetwork is the network counted and banned as the client when
	// it is more than the address (an IPv6 client's /64, by
	// client_ipv6_prefix).
	ClientNetwork string    `json:"client_network,omitempty"`
	Consumer      string    `json:"consumer,omitempty"`
	Route         string    `json:"route,omitempty"`
	Count         int       `json:"count"`
	Window        string    `json:"window"`
	BanUntil      time.Time `json:"ban_until,omitzero"`
	RequestID     string    `json:"request_id,omitempty"`
	Time          time.Time `json:"time"`
}

// Signature headers of a webhook delivery. The signature is
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)), so a
// receiver can check both the body and its freshness.
const (
	SignatureHeader = "X-Portcullis-Signature"
	TimestampHeader = "X-Portcullis-Timestamp"
)

// Sign returns the signature header value of a delivery.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

const (
	alertQueue     = 256
	backoffBase    = 200 * time.Millisecond
	backoffMax     = 5 * time.Second
	defaultRetries = 3
)

// alerter delivers alerts to webhooks, one queue and one worker per
// webhook, so a slow receiver delays only itself and never a request:
// when a queue is full the alert is dropped and counted.
type alerter struct {
	hooks   []*webhook
	log     *slog.Logger
	dropped atomic.Uint64
	failed  atomic.Uint64
	sent    atomic.Uint64
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type webhook struct {
	url    string
	secret []byte
	client *http.Client
	queue  chan []byte
}

func newAlerter(ac *config.IntrusionAlerts, log *slog.Logger) (*alerter, error) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &alerter{log: log, ctx: ctx, cancel: cancel}
	if ac == nil {
		return a, nil
	}
	timeout := ac.Timeout.Or(2 * time.Second)
	retries := defaultRetries
	if ac.Retries != nil {
		retries = *ac.Retries
	}
	for i, wc := range ac.Webhooks {
		client, err := WebhookClient(wc, timeout, log)
		if err != nil {
			a.close()
			return nil, fmt.Errorf("intrusion_detection.alerts.webhooks[%d].%w", i, err)
		}
		h := &webhook{url: wc.URL, secret: []byte(wc.Secret), client: client, queue: make(chan []byte, alertQueue)}
		a.hooks = append(a.hooks, h)
		a.wg.Add(1)
		go a.run(h, retries)
	}
	return a, nil
}

// send queues an alert for every webhook without waiting.
func (a *alerter) send(al *Alert) {
	if len(a.hooks) == 0 {
		return
	}
	body, err := json.Marshal(al)
	if err != nil {
		return
	}
	for _, h := range a.hooks {
		select {
		case h.queue <- body:
		default:
			a.dropped.Add(1)
		}
	}
}

func (a *alerter) run(h *webhook, retries int) {
	defer a.wg.Done()
	for {
		select {
		case <-a.ctx.Done():
			return
		case body := <-h.queue:
			a.deliver(h, retries, body)
		}
	}
}

func (a *alerter) deliver(h *webhook, retries int, body []byte) {
	delay := backoffBase
	for attempt := 0; ; attempt++ {
		err := a.post(h, body)
		if err == nil {
			a.sent.Add(1)
			return
		}
		if attempt >= retries {
			a.failed.Add(1)
			// The URL may carry a token in its path; it is not logged.
			a.log.Warn("security alert not delivered", "attempts", attempt+1, "error", err)
			return
		}
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, backoffMax)
	}
}

func (a *alerter) post(h *webhook, body []byte) error {
	return PostSigned(a.ctx, h.client, h.url, "portcullis-alerts", h.secret, body)
}

// PostSigned makes one webhook delivery: body POSTed to url as JSON,
// stamped with the time (TimestampHeader) and, when secret is set, signed
// (SignatureHeader, Sign). Security alerts and the security event stream
// (package events) deliver through it. A 2xx answer is a delivery; the
// answer's body is read (at most 64 KiB) so that the connection can be
// reused. Errors never carry the URL, which may hold a token in its path.
func PostSigned(ctx context.Context, client *http.Client, target, userAgent string, secret, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad webhook URL")
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(TimestampHeader, ts)
	if len(secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(secret, ts, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		// The cause without the URL (a *url.Error names it): a refused
		// certificate or connection says what to fix.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("webhook unreachable: %w", ue.Err)
		}
		return errors.New("webhook unreachable")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}

func (a *alerter) close() {
	a.cancel()
	a.wg.Wait()
	for _, h := range a.hooks {
		h.client.CloseIdleConnections() // its own pool: a reload makes a new one
	}
}
