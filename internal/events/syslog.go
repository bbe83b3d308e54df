package events

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// syslogSink sends each event as an RFC 5424 message: over UDP one
// message per datagram (RFC 5426), over TCP with octet-counting framing
// (RFC 6587 section 3.4.1), reconnecting with backoff.
type syslogSink struct {
	s        *Stream
	network  string
	address  string
	facility int
	host     string
	app      string
	procid   string
	queue    chan *Event
	wg       sync.WaitGroup
}

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
		app: headerField(app, 48), procid: strconv.Itoa(os.Getpid()), queue: make(chan *Event, queueSize)}
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
	delay := backoffBase
	for ev := range ss.queue {
		msg := ss.format(ev)
		for attempt := 0; attempt < 3; attempt++ {
			if conn == nil {
				c, err := net.DialTimeout(ss.network, ss.address, 2*time.Second)
				if err != nil {
					time.Sleep(delay)
					delay = min(delay*2, backoffMax)
					continue
				}
				conn, delay = c, backoffBase
			}
			_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			var err error
			if ss.network == "tcp" {
				_, err = conn.Write(append([]byte(strconv.Itoa(len(msg))+" "), msg...))
			} else {
				_, err = conn.Write(msg)
			}
			if err == nil {
				ss.s.delivered.WithLabelValues("syslog", "sent").Inc()
				break
			}
			_ = conn.Close()
			conn = nil
			if attempt == 2 {
				ss.s.delivered.WithLabelValues("syslog", "failed").Inc()
			}
		}
	}
	if conn != nil {
		_ = conn.Close()
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

func (ss *syslogSink) close() {
	close(ss.queue)
	ss.wg.Wait()
}
