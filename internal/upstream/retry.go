package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// maxReplayBody is the largest request body buffered so that an
// idempotent request can be sent again. Larger or chunked bodies stream
// and are retried only after a connection failure, before any byte left.
const maxReplayBody = 64 << 10

// Retry conditions, a bit set.
const (
	retryConnect uint8 = 1 << iota
	retryTimeout
	retry502
	retry503
	retry504
)

// retryPolicy is a compiled config.Retries.
type retryPolicy struct {
	attempts      int
	perTry, total time.Duration
	ratio         float64
	minPerSecond  int64
	on            uint8
}

func retryPolicyOf(r *config.Retries) (*retryPolicy, error) {
	ratio, minPerSecond := r.Budget()
	rp := &retryPolicy{
		attempts:     orInt(r.Attempts, config.DefaultRetryAttempts),
		perTry:       r.PerTryTimeout.D(),
		total:        r.Timeout.D(),
		ratio:        ratio,
		minPerSecond: int64(minPerSecond),
	}
	if rp.attempts < 1 || rp.attempts > config.MaxRetryAttempts || rp.ratio < 0 || rp.ratio > 1 || rp.minPerSecond < 0 {
		return nil, errors.New("retries: values out of range")
	}
	on := r.RetryOn
	if len(on) == 0 {
		on = config.DefaultRetryOn
	}
	for _, c := range on {
		switch c {
		case config.RetryOnConnectFailure:
			rp.on |= retryConnect
		case config.RetryOnTimeout:
			rp.on |= retryTimeout
		case "502":
			rp.on |= retry502
		case "503":
			rp.on |= retry503
		case "504":
			rp.on |= retry504
		default:
			return nil, fmt.Errorf("retries.retry_on %q: want connect_failure, timeout, 502, 503 or 504", c)
		}
	}
	return rp, nil
}

// Timeouts set by retries, reported as timeouts (504) by IsTimeout.
var (
	errTryTimeout   error = &timeoutError{"per-try timeout"}
	errTotalTimeout error = &timeoutError{"retries timeout"}
)

// Forward picks a target, sends req and returns the response and the
// target it came from, retrying on another pick when the service's retry
// policy allows it and it is safe. The caller sets req's path, query and
// headers; Forward sets URL.Scheme and URL.Host, and Host unless
// preserveHost, for each target tried. When t is not nil the caller must
// call t.Release once the response is done (also when err is not nil);
// err with a nil t is ErrNoHealthyTarget or a failure to read the body.
// Every try's outcome feeds passive health and the circuit breaker.
func (s *Service) Forward(req *http.Request, hashKey string, preserveHost bool) (resp *http.Response, t *Target, err error) {
	parent := req.Context()
	if s.retry == nil {
		t, trial, err := s.pick(hashKey, nil)
		if err != nil {
			return nil, nil, err
		}
		setTarget(req, t, preserveHost)
		resp, err := t.RoundTrip(req)
		t.report(parent, trial, resp, err)
		return resp, t, err
	}
	return s.forwardRetrying(req, hashKey, preserveHost)
}

func setTarget(req *http.Request, t *Target, preserveHost bool) {
	req.URL.Scheme, req.URL.Host = t.p.scheme, t.p.host
	if !preserveHost {
		req.Host = t.p.host
	}
}

func (s *Service) forwardRetrying(req *http.Request, hashKey string, preserveHost bool) (*http.Response, *Target, error) {
	rp := s.retry
	parent := req.Context()
	s.budget.request(time.Now().Unix())

	// The body decides what is safe: none or a small buffered one can be
	// sent again; a streamed one only while no byte of it was read.
	idem := idempotent(req.Method)
	var replay []byte
	var guard *sentBody
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength != 0 {
		if idem && req.ContentLength > 0 && req.ContentLength <= maxReplayBody {
			replay = make([]byte, req.ContentLength)
			if _, err := io.ReadFull(req.Body, replay); err != nil {
				return nil, nil, fmt.Errorf("upstream: reading request body: %w", err)
			}
		} else {
			guard = &sentBody{rc: req.Body}
		}
	}

	ctx := parent
	var totalFired atomic.Bool
	if rp.total > 0 {
		c, cancel := context.WithCancel(parent)
		timer := time.AfterFunc(rp.total, func() { totalFired.Store(true); cancel() })
		// On success the response body goes on under ctx: only the timer
		// stops; ctx ends with the parent.
		defer timer.Stop()
		ctx = c
	}

	var tried []*Target
	for attempt := 1; ; attempt++ {
		key := hashKey
		if attempt > 1 {
			key = "" // a retry prefers any other healthy target to affinity
		}
		t, trial, err := s.pick(key, tried)
		if err != nil {
			return nil, nil, err
		}
		tryCtx := ctx
		var tryFired atomic.Bool
		var tryTimer *time.Timer
		if rp.perTry > 0 {
			c, cancel := context.WithCancel(ctx)
			tryTimer = time.AfterFunc(rp.perTry, func() { tryFired.Store(true); cancel() })
			tryCtx = c
		}
		out := req.WithContext(tryCtx)
		switch {
		case replay != nil:
			out.Body = io.NopCloser(bytes.NewReader(replay))
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(replay)), nil }
		case guard != nil:
			out.Body = guard
		}
		setTarget(out, t, preserveHost)
		resp, err := t.RoundTrip(out)
		if tryTimer != nil && !tryTimer.Stop() && err == nil {
			// The try timed out as its headers arrived: its body would fail.
			resp.Body.Close()
			resp, err = nil, context.Canceled
		}
		switch {
		case err == nil:
		case totalFired.Load():
			err = fmt.Errorf("upstream %s: %w", t.p.host, errTotalTimeout)
		case tryFired.Load():
			err = fmt.Errorf("upstream %s: %w", t.p.host, errTryTimeout)
		}
		t.report(parent, trial, resp, err)

		cond := retryCondition(resp, err)
		if cond == 0 || rp.on&cond == 0 || attempt >= rp.attempts || parent.Err() != nil || totalFired.Load() {
			return resp, t, err
		}
		// Safe: nothing was sent (a refused connection, and no byte of a
		// streamed body read), or an idempotent request that can be
		// replayed whole.
		nothingSent := cond == retryConnect && (guard == nil || guard.n.Load() == 0)
		if !nothingSent && !(idem && guard == nil) {
			return resp, t, err
		}
		if !s.budget.allowRetry(time.Now().Unix(), rp.ratio, rp.minPerSecond) {
			return resp, t, err
		}
		s.budget.total.Add(1)
		if resp != nil {
			resp.Body.Close()
		}
		t.Release()
		tried = append(tried, t)
	}
}

// retryCondition classifies a try's result as a retry condition (0: none).
func retryCondition(resp *http.Response, err error) uint8 {
	if err != nil {
		var op *net.OpError
		switch {
		case errors.Is(err, errTotalTimeout):
			return 0
		case errors.As(err, &op) && op.Op == "dial":
			return retryConnect // refused, unreachable or connect timeout: nothing sent
		case IsTimeout(err):
			return retryTimeout
		}
		return 0
	}
	switch resp.StatusCode {
	case http.StatusBadGateway:
		return retry502
	case http.StatusServiceUnavailable:
		return retry503
	case http.StatusGatewayTimeout:
		return retry504
	}
	return 0
}

// idempotent reports whether RFC 9110 section 9.2.2 lets the method be
// repeated (CONNECT never reaches here).
func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// sentBody wraps a streamed request body: it counts what was read, so a
// retry after a connection failure knows nothing was sent, and ignores
// Close, so that a failed try does not close the body a retry needs.
type sentBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *sentBody) Close() error { return nil }

// report feeds the try's outcome to passive health and the breaker. A
// client that went away or a client body error is not the target's fault.
func (t *Target) report(parent context.Context, trial bool, resp *http.Response, err error) {
	p := t.p
	if p.passive == nil && p.br == nil {
		return
	}
	var be *bodyReadError
	var mbe *http.MaxBytesError
	if err != nil && (parent.Err() != nil || errors.As(err, &be) || errors.As(err, &mbe)) {
		if trial {
			p.br.cancelTrial()
		}
		return
	}
	ok := err == nil && resp.StatusCode < 500
	now := time.Now()
	if p.passive != nil {
		p.reportPassive(ok, now)
	}
	if p.br != nil {
		p.br.report(trial, ok, now)
	}
}

// budgetSeconds is the window of the retry budget.
const budgetSeconds = 10

// retryBudget counts a service's requests and retries per second over the
// last budgetSeconds, in buckets reset without a lock (a count racing with
// a reset may be lost; the budget stays approximately right). It lives in
// the Registry, keyed by service name, so it outlives snapshots.
type retryBudget struct {
	buckets [budgetSeconds]budgetBucket
	// total counts every retry sent, for metrics.
	total atomic.Uint64
}

type budgetBucket struct {
	sec     atomic.Int64
	reqs    atomic.Int64
	retries atomic.Int64
}

func (b *retryBudget) bucket(sec int64) *budgetBucket {
	bk := &b.buckets[sec%budgetSeconds]
	if s := bk.sec.Load(); s != sec && bk.sec.CompareAndSwap(s, sec) {
		bk.reqs.Store(0)
		bk.retries.Store(0)
	}
	return bk
}

func (b *retryBudget) request(sec int64) { b.bucket(sec).reqs.Add(1) }

// allowRetry takes one retry from the budget when there is room: fewer
// than minPerSecond retries this second, or retries within ratio of the
// requests of the window.
func (b *retryBudget) allowRetry(sec int64, ratio float64, minPerSecond int64) bool {
	cur := b.bucket(sec)
	if cur.retries.Load() < minPerSecond {
		cur.retries.Add(1)
		return true
	}
	var reqs, retries int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if s := bk.sec.Load(); s > sec-budgetSeconds && s <= sec {
			reqs += bk.reqs.Load()
			retries += bk.retries.Load()
		}
	}
	if float64(retries+1) > ratio*float64(reqs) {
		return false
	}
	cur.retries.Add(1)
	return true
}
