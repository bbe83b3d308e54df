package intrusion

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ipfilter"
)

// Detector counts security events per client address (and per consumer
// when known), bans the clients that cross a rule's threshold and sends
// alerts. Banned is the hot path: a map lookup, no allocation, no I/O.
type Detector struct {
	cfg    *config.IntrusionDetection
	rules  []rule
	byEv   [len(eventNames)][]int // rule indexes per event
	allow  []netip.Prefix
	bans   *banTable
	counts *counters
	alerts *alerter
	redis  *redisBans
	log    *slog.Logger
	// v6bits: the leading bits of an IPv6 address that name one client
	// (client_ipv6_prefix; config.ClientKey). Counts and the bans rules
	// make are per client: an IPv6 client's network.
	v6bits int

	publish chan banMsg // bans to write to Redis
	stop    chan struct{}
	wg      sync.WaitGroup
	closed  sync.Once

	events    atomic.Uint64
	banned    atomic.Uint64
	redisErrs atomic.Uint64
	now       func() time.Time
}

type rule struct {
	event     Event
	threshold int
	window    time.Duration
	ban       time.Duration
}

type banMsg struct {
	addr  netip.Addr
	until time.Time
}

// Info describes the request an event comes from.
type Info struct {
	Client    netip.Addr
	Consumer  string
	Route     string
	RequestID string
}

// Stats are the detector's counters.
type Stats struct {
	Events, Bans, AlertsSent, AlertsFailed, AlertsDropped, RedisErrors uint64
	ActiveBans                                                         int64
}

// NewDetector compiles the intrusion_detection config. prev, the detector
// of the config being replaced (or nil), hands over its bans, and its
// counts when the rules are unchanged, so a reload forgives nobody.
// v6bits is client_ipv6_prefix.
func NewDetector(cfg *config.IntrusionDetection, v6bits int, log *slog.Logger, prev *Detector) (*Detector, error) {
	d, err := newDetector(cfg, log, prev, time.Now)
	if err == nil && v6bits != 0 {
		d.v6bits = v6bits
	}
	return d, err
}

// newDetector is NewDetector with a clock (tests).
func newDetector(cfg *config.IntrusionDetection, log *slog.Logger, prev *Detector, now func() time.Time) (*Detector, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &Detector{cfg: cfg, log: log, stop: make(chan struct{}), publish: make(chan banMsg, 1024), now: now, v6bits: config.DefaultClientIPv6Prefix}
	for i, rc := range cfg.Rules {
		ev := parseEvent(rc.Event)
		if ev == EventNone {
			return nil, fmt.Errorf("intrusion_detection.rules[%d]: unknown event %q", i, rc.Event)
		}
		if rc.Threshold < 1 || rc.Window.D() <= 0 {
			return nil, fmt.Errorf("intrusion_detection.rules[%d]: threshold and window must be positive", i)
		}
		d.rules = append(d.rules, rule{event: ev, threshold: rc.Threshold, window: rc.Window.D(), ban: rc.Ban.D()})
		d.byEv[ev] = append(d.byEv[ev], i)
	}
	for i, s := range cfg.Allow {
		p, err := ipfilter.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("intrusion_detection.allow[%d]: %w", i, err)
		}
		d.allow = append(d.allow, p)
	}
	d.bans, d.counts = newBanTable(), newCounters()
	if prev != nil {
		d.bans = prev.bans
		if reflect.DeepEqual(prev.cfg.Rules, cfg.Rules) {
			d.counts = prev.counts
		}
	}
	interval := time.Second
	if cfg.Store == config.StoreRedis && cfg.Redis != nil {
		rb, err := newRedisBans(cfg.Redis, log)
		if err != nil {
			return nil, err
		}
		d.redis = rb
		interval = cfg.Redis.SyncInterval.Or(time.Second)
	}
	alerts, err := newAlerter(cfg.Alerts, log)
	if err != nil {
		if d.redis != nil {
			d.redis.close()
		}
		return nil, err
	}
	d.alerts = alerts
	d.wg.Add(1)
	go d.loop(interval)
	return d, nil
}

// Banned reports whether a is banned now: the address itself (a ban made
// through the admin API names one), or its client, the network an IPv6
// client's address belongs to (the bans the rules make).
func (d *Detector) Banned(a netip.Addr) bool {
	if d.bans.count() == 0 {
		return false
	}
	a = a.Unmap()
	now := d.now().UnixNano()
	if d.bans.until(a, now) != 0 {
		return true
	}
	k := config.ClientKey(a, d.v6bits)
	return k != a && d.bans.until(k, now) != 0
}

func (d *Detector) allowed(a netip.Addr) bool {
	for _, p := range d.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Record counts one security event; when a rule's threshold is crossed
// it bans the client (unless allow-listed) and alerts.
func (d *Detector) Record(ev Event, in Info) {
	if int(ev) >= len(d.byEv) || len(d.byEv[ev]) == 0 || !in.Client.IsValid() {
		return
	}
	a := in.Client.Unmap()
	if d.allowed(a) {
		return
	}
	d.events.Add(1)
	now := d.now()
	client := config.ClientKey(a, d.v6bits) // an IPv6 client takes any address of its network
	for _, ri := range d.byEv[ev] {
		r := &d.rules[ri]
		fired, _ := d.counts.add(counterKey{rule: ri, addr: client}, now.UnixNano(), int64(r.window), r.threshold)
		if !fired && in.Consumer != "" {
			// A consumer crossing the threshold from many addresses bans
			// the address of the request that crossed it.
			fired, _ = d.counts.add(counterKey{rule: ri, consumer: in.Consumer}, now.UnixNano(), int64(r.window), r.threshold)
		}
		if fired {
			d.fire(r, a, client, in, now)
		}
	}
}

// fire alerts on a rule crossed by the request from a, and bans client,
// the client a belongs to (a itself, or an IPv6 client's network).
func (d *Detector) fire(r *rule, a, client netip.Addr, in Info, now time.Time) {
	al := &Alert{Type: "threshold", Event: r.event.String(), Client: a.String(), Consumer: in.Consumer, Route: in.Route,
		Count: r.threshold, Window: r.window.String(), RequestID: in.RequestID, Time: now.UTC()}
	if client != a {
		al.ClientNetwork = netip.PrefixFrom(client, d.v6bits).String()
	}
	if r.ban > 0 {
		until := now.Add(r.ban)
		if !d.bans.set(client, until.UnixNano()) {
			return // already banned at least as long: no new alert
		}
		d.banned.Add(1)
		al.Type, al.BanUntil = "ban", until.UTC()
		if d.redis != nil {
			select {
			case d.publish <- banMsg{client, until}:
			default:
				d.redisErrs.Add(1)
			}
		}
	}
	d.log.Warn("security alert", "type", al.Type, "event", al.Event, "client", al.Client, "client_network", al.ClientNetwork, "consumer", al.Consumer,
		"route", al.Route, "count", al.Count, "window", al.Window, "ban_until", al.BanUntil, "request_id", al.RequestID)
	d.alerts.send(al)
}

// loop publishes bans to Redis and reads the shared ones; it also prunes
// ended bans.
func (d *Detector) loop(interval time.Duration) {
	defer d.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-d.stop; cancel() }()
	d.sync(ctx)
	for {
		select {
		case <-d.stop:
			return
		case m := <-d.publish:
			if err := d.redis.add(ctx, m.addr, m.until); err != nil {
				d.redisErrs.Add(1)
				d.log.Error("intrusion detection: ban not shared", "error", err)
			}
		case <-t.C:
			d.sync(ctx)
		}
	}
}

func (d *Detector) sync(ctx context.Context) {
	now := d.now()
	d.bans.prune(now.UnixNano())
	if d.redis == nil {
		return
	}
	cur, err := d.redis.current(ctx, now)
	if err != nil {
		if ctx.Err() == nil {
			d.redisErrs.Add(1)
			d.log.Error("intrusion detection: shared bans not read; local bans still hold", "error", err)
		}
		return
	}
	for a, u := range cur {
		if d.allowed(a) {
			continue // this node's allow list wins over another's ban
		}
		d.bans.set(a, u.UnixNano())
	}
}

// Stats returns the counters.
func (d *Detector) Stats() Stats {
	return Stats{Events: d.events.Load(), Bans: d.banned.Load(), AlertsSent: d.alerts.sent.Load(),
		AlertsFailed: d.alerts.failed.Load(), AlertsDropped: d.alerts.dropped.Load(),
		RedisErrors: d.redisErrs.Load(), ActiveBans: d.bans.count()}
}

// Close stops the background work; the ban table stays usable by a
// successor built with NewDetector(..., d).
func (d *Detector) Close() {
	d.closed.Do(func() {
		close(d.stop)
		d.wg.Wait()
		d.alerts.close()
		if d.redis != nil {
			d.redis.close()
		}
	})
}
