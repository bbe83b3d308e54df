package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/devpki"
)

const certsUsage = `Usage:
  portcullis certs dev [--dir dev-pki] [--hosts localhost,127.0.0.1,::1] [--client dev-client]
                       [--service orders] [--trust-domain dev.local] [--days 90] [--force]
      create a local CA, the gateway's server certificate, an edge client
      certificate, the gateway's client certificate toward services, a
      service certificate (with a SPIFFE ID) and an assertion signing key,
      for development only (keys are written with 0600 permissions)
`

// cmdCerts is the development PKI helper.
func cmdCerts(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "dev" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, certsUsage)
			return 0
		}
		fmt.Fprint(stderr, certsUsage)
		return 2
	}
	fs := newFlags("certs dev", "Create a local CA and certificates for trying TLS and mTLS (development only; keys are\nwritten with 0600 permissions), and print the config that uses them.", stderr)
	dir := fs.String("dir", "dev-pki", "directory to write to (created 0700)")
	hosts := fs.String("hosts", "localhost,127.0.0.1,::1", "names and addresses of the server certificates")
	client := fs.String("client", "dev-client", "common name of the edge client certificate")
	service := fs.String("service", "orders", "service name (its SPIFFE ID ends with /sa/NAME)")
	td := fs.String("trust-domain", "dev.local", "SPIFFE trust domain")
	days := fs.Int("days", 90, "validity in days")
	force := fs.Bool("force", false, "replace existing files")
	if rc := parse(fs, args[1:], stdout); rc >= 0 {
		return rc
	}
	if *days < 1 || *days > 825 {
		fmt.Fprintln(stderr, "portcullis certs dev: --days must be between 1 and 825")
		return 2
	}
	var hs []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hs = append(hs, h)
		}
	}
	// The tool never prints config material the loader then refuses: the
	// service name and its expected SPIFFE ID are checked by the loader's
	// own rules before anything is created.
	if msg := checkCertsDev(hs, *client, *service, *td); msg != "" {
		fmt.Fprintln(stderr, "portcullis certs dev:", msg)
		return 2
	}
	files, err := devpki.Create(devpki.Options{Dir: *dir, Hosts: hs, Client: *client, Service: *service, TrustDomain: *td,
		Validity: durationDays(*days), Force: *force})
	if err != nil {
		fmt.Fprintln(stderr, "portcullis certs dev:", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "%-22s %s\n", f.Name, f.What)
	}
	fmt.Fprintf(stdout, `
Development only: the CA key is in %[1]s. In a config:

listeners:
  - name: public
    address: 127.0.0.1:8443
    tls:
      certificates: [{cert_file: %[1]s/server.pem, key_file: %[1]s/server.key}]
      client_auth: {mode: request, ca_file: %[1]s/ca.pem}
identity_assertion:
  keys: [{id: dev-1, private_key_file: %[1]s/assertion.key}]
services:
  - name: %[2]s
    targets: [{url: "https://127.0.0.1:9443"}]
    tls: {ca_file: %[1]s/ca.pem, cert_file: %[1]s/gateway-client.pem, key_file: %[1]s/gateway-client.key,
          expected_identity: "spiffe://%[3]s/ns/dev/sa/%[2]s"}
    identity_assertion: {}

curl --cacert %[1]s/ca.pem --cert %[1]s/client.pem --key %[1]s/client.key https://localhost:8443/
`, *dir, *service, *td)
	return 0
}

// checkCertsDev returns what is wrong with the names certs dev would put
// in certificates and in the config it prints, or "".
func checkCertsDev(hosts []string, client, service, trustDomain string) string {
	if len(hosts) == 0 {
		return "--hosts names no host"
	}
	for _, h := range hosts {
		if _, err := netip.ParseAddr(h); err == nil {
			continue
		}
		if config.CheckHost(h) != nil {
			return fmt.Sprintf("--hosts: %q is neither an IP address nor a DNS name", h)
		}
	}
	if strings.TrimSpace(client) == "" || strings.ContainsFunc(client, unicode.IsControl) {
		return "--client must be a non-empty common name without control characters"
	}
	if !config.ValidName(service) {
		return fmt.Sprintf("--service %q: a service name %s", service, config.NameRule())
	}
	if msg := config.CheckExpectedIdentity(devpki.SPIFFEID(trustDomain, service)); msg != "" {
		return fmt.Sprintf("--trust-domain %q: the service's SPIFFE ID %s", trustDomain, msg)
	}
	return ""
}

func durationDays(d int) time.Duration { return time.Duration(d) * 24 * time.Hour }
