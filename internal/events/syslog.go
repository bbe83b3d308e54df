package events

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/clienttls"
	"github.com/portcullis/portcullis/internal/config"
)

// syslogSink sends each event as an RFC 5424 message: over UDP one
// message per datagram (RFC 5426), over TCP with octet-counting framing
// (RFC 6587 section 3.4.1), over TLS with the same framing (RFC 5425
// section 4.3), reconnecting with backoff.
//
// Threat: the events name clients, consumers, routes and the rules that
// refused them, which is a map of who probes what and what stops them.
// Sent in clear to a receiver across the network, anyone on the path
// reads it, and anyone who can answer at the receiver's address collects
// it (or swallows it, and the SIEM sees nothing). With a tls block the
// receiver is verified as a service's https:// targets are
// (internal/clienttls: ca_file, server_name, expected_identity) and the
// gateway can present a client certificate to a receiver that requires
// one; a receiver that fails verification gets nothing, and the failure
// is logged and counted as a failed delivery.
type syslogSink struct {
	s        *Stream
	network  string
	address  string
	tlsm     *clienttls.Material // nil: plain udp or tcp
	facility int
	host     string
	app      string
	procid   string
	queue    chan *Event
	closing  chan struct{} // closed when close begins
	wg       sync.WaitGroup
	// failing is the last connection error logged: a receiver that stays
	// down is logged once, not at every event.
	failing string
}

// EventSyslogTLSReloadFailed and EventSyslogTLSReloaded are the "event"
// values of the log lines about a syslog tls block's files.
const (
	EventSyslogTLSReloadFailed = "syslog_tls_reload_failed"
	EventSyslogTLSReloaded     = "syslog_tls_reloaded"
)

// enterpriseID names the structured data element. 32473 is the Private
// Enterprise Number RFC 5612 reserves for documentation and examples.
const sdID = "portcullis@32473"

func newSyslogSink(c *config.Syslog, s *Stream) (*syslogSink, error) {
	network := c.Network
	if network == "" {
		network = "udp"
	}
	if network != "udp" && network != "tcp" {
		return nil, fmt.Errorf("observability.security_events.syslog.network: %q (want udp or tcp)", network)
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return nil, fmt.Errorf("observability.security_events.syslog.address: %w", err)
	}
	fac := "local0"
	if c.Facility != "" {
		fac = c.Facility
	}
	code, ok := config.SyslogFacilities[fac]
	if !ok {
		return nil, fmt.Errorf("observability.security_events.syslog.facility: unknown facility %q", fac)
	}
	host, _ := os.Hostname()
	app := c.AppName
	if app == "" {
		app = "portcullis"
	}
	ss := &syslogSink{s: s, network: network, address: c.Address, facility: code, host: headerField(host, 255),
		app: headerField(app, 48), procid: strconv.Itoa(os.Getpid()), queue: make(chan *Event, queueSize), closing: make(chan struct{})}
	if c.TLS != nil {
		if network != "tcp" {
			return nil, fmt.Errorf("observability.security_events.syslog.network: %q with a tls block (want tcp)", network)
		}
		m, err := clienttls.New(c.TLS)
		if err != nil {
			return nil, fmt.Errorf("observability.security_events.syslog.%w", err)
		}
		ss.tlsm = m
	}
	ss.wg.Add(1)
	go ss.run()
	return ss, nil
}

func (ss *syslogSink) name() string { return "syslog" }

func (ss *syslogSink) send(ev *Event, _ []byte) {
	select {
	case ss.queue <- ev:
	default:
		ss.s.dropped.WithLabelValues("syslog").Inc()
	}
}

func (ss *syslogSink) run() {
	defer ss.wg.Done()
	var conn net.Conn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	delay := backoffBase
	// unreachable is set when a dial fails after the sink began closing:
	// what is still queued is counted as failed without dialing again.
	unreachable := false
	for ev := range ss.queue {
		msg := ss.format(ev)
		if ss.network == "tcp" {
			msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
		}
		// Three attempts with backoff between them; once the sink is
		// closing (shutdown, or a reload that replaced it), one and no
		// waiting, so that what is queued cannot hold the shutdown or the
		// reload for the receiver's sake.
		tries := 3
		if ss.isClosing() {
			tries = 1
		}
		sent := false
		for attempt := 0; attempt < tries && !sent && !unreachable; attempt++ {
			if conn == nil {
				c, err := ss.dial()
				if err != nil {
					ss.reportDial(err)
					unreachable = ss.isClosing()
					if attempt < tries-1 {
						ss.wait(delay)
					}
					delay = min(delay*2, backoffMax)
					continue
				}
				ss.reportDial(nil)
				conn, delay = c, backoffBase
			}
			_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Write(msg); err != nil {
				_ = conn.Close()
				conn = nil
				continue
			}
			sent = true
		}
		if sent {
			ss.s.delivered.WithLabelValues("syslog", "sent").Inc()
		} else {
			ss.s.delivered.WithLabelValues("syslog", "failed").Inc()
		}
	}
}

// isClosing reports whether close has begun.
func (ss *syslogSink) isClosing() bool {
	select {
	case <-ss.closing:
		return true
	default:
		return false
	}
}

// wait sleeps d, or less when the sink begins closing.
func (ss *syslogSink) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ss.closing:
	}
}

// dialTimeout bounds one connection to the receiver, the TLS handshake
// included.
const dialTimeout = 2 * time.Second

// dial opens a connection to the receiver: plain, or TLS with the tls
// block's current files.
func (ss *syslogSink) dial() (net.Conn, error) {
	if ss.tlsm == nil {
		return net.DialTimeout(ss.network, ss.address, dialTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	tc, err := ss.tlsm.Dial(ctx, ss.network, ss.address, func(err error) {
		if err != nil {
			ss.s.log.Error("syslog TLS files failed to reload; new connections keep the previous ones", "event", EventSyslogTLSReloadFailed, "files", ss.tlsm.Files(), "error", err)
			return
		}
		ss.s.log.Info("syslog TLS files reloaded", "event", EventSyslogTLSReloaded, "files", ss.tlsm.Files())
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%w: no answer within %s", err, dialTimeout)
	}
	if err != nil {
		return nil, err
	}
	// In TLS 1.3 the client's handshake ends before the server has
	// checked the client's certificate: a receiver that refuses it
	// answers with an alert the gateway would only meet at a later
	// write, after the messages written in between were lost. A
	// receiver never speaks first (RFC 5425 section 4.3: the client
	// sends, the server only reads), so a short read that ends in
	// anything but its deadline is that refusal, or a close.
	_ = tc.SetReadDeadline(time.Now().Add(refusalWait))
	var one [1]byte
	if _, err := tc.Read(one[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		_ = tc.Close()
		if err == nil {
			err = errors.New("the receiver sent data before any message")
		}
		return nil, fmt.Errorf("the receiver ended the TLS connection: %w", err)
	}
	_ = tc.SetReadDeadline(time.Time{})
	return tc, nil
}

// refusalWait is how long a new TLS connection is watched for the
// receiver's refusal of the gateway's certificate.
const refusalWait = 100 * time.Millisecond

// reportDial logs a connection failure the first time it is seen, and
// the recovery once after failures (nil).
func (ss *syslogSink) reportDial(err error) {
	switch {
	case err == nil && ss.failing != "":
		ss.failing = ""
		ss.s.log.Info("security events reach the syslog receiver again", "address", ss.address)
	case err != nil && err.Error() != ss.failing:
		ss.failing = err.Error()
		ss.s.log.Warn("security events cannot reach the syslog receiver; retrying with backoff", "address", ss.address, "error", err)
	}
}

// format builds the RFC 5424 message:
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID PARAM="VALUE"...] BOM MSG
//
// PRI is facility * 8 + severity (section 6.2.1); the message is the
// event's JSON, UTF-8 with a BOM (section 6.4).
func (ss *syslogSink) format(ev *Event) []byte {
	sev := 4 // warning: a refusal
	if ev.Alert != nil {
		sev = 1 // alert: action must be taken immediately
		if ev.Alert.State == "resolved" {
			sev = 5 // notice
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s %s %s %s [%s", ss.facility*8+sev, ev.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		ss.host, ss.app, ss.procid, headerField(ev.Category, 32), sdID)
	param := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + `="` + sdEscape(v) + `"`)
		}
	}
	param("type", ev.Type)
	param("request_id", ev.RequestID)
	param("route", ev.Route)
	param("client", ev.Client)
	param("consumer", ev.Consumer)
	param("reason", ev.Reason)
	param("rule", ev.Rule)
	if ev.Status != 0 {
		param("status", strconv.Itoa(ev.Status))
	}
	param("method", ev.Method)
	if ev.Alert != nil {
		param("alert", ev.Alert.Name)
		param("state", ev.Alert.State)
	}
	b.WriteString("] \ufeff")
	line, _ := jsonLine(ev)
	b.Write(line)
	return []byte(b.String())
}

// sdEscape escapes a PARAM-VALUE: '"', '\' and ']' are preceded by a
// backslash (RFC 5424 section 6.3.3).
func sdEscape(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)
	return r.Replace(v)
}

// headerField makes a header field valid: printable US-ASCII without
// spaces (PRINTUSASCII, section 6), at most max characters, "-" when empty.
func headerField(v string, max int) string {
	var b strings.Builder
	for i := 0; i < len(v) && b.Len() < max; i++ {
		if c := v[i]; c > 32 && c < 127 {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// close delivers what is queued, each message with one attempt, and
// stops: bounded by a dial and a write timeout, not by the backoff.
func (ss *syslogSink) close() {
	close(ss.closing)
	close(ss.queue)
	ss.wg.Wait()
}
