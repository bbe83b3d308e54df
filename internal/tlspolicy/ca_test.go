package tlspolicy_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/tlspolicy"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestParseCA: a CA bundle is trusted whole or refused. crypto/x509's
// AppendCertsFromPEM skips a CERTIFICATE block that does not parse; the
// gateway refuses the bundle instead, and one without any certificate.
func TestParseCA(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pem"), filepath.Join(dir, "b.pem")
	tlspolicytest.WriteKeyPair(t, a, filepath.Join(dir, "a.key"), "a.test")
	tlspolicytest.WriteKeyPair(t, b, filepath.Join(dir, "b.key"), "b.test")
	read := func(p string) string {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	certA, certB, keyA := read(a), read(b), read(filepath.Join(dir, "a.key"))
	mangled := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	cases := []struct {
		desc    string
		pem     string
		certs   int
		wantErr string
	}{
		{desc: "one certificate", pem: certA, certs: 1},
		{desc: "two certificates", pem: certA + certB, certs: 2},
		{desc: "text and a key around a certificate", pem: "issued by ops\n" + keyA + certA, certs: 1},
		{desc: "empty", pem: "", wantErr: "holds no PEM certificate"},
		{desc: "not PEM", pem: "placeholder\n", wantErr: "holds no PEM certificate"},
		{desc: "a key only", pem: keyA, wantErr: "holds no PEM certificate"},
		{desc: "a mangled certificate alone", pem: mangled, wantErr: "holds a certificate that does not parse (certificate 1)"},
		{desc: "a mangled certificate after a good one", pem: certA + mangled, wantErr: "holds a certificate that does not parse (certificate 2)"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			certs, err := tlspolicy.ParseCA([]byte(tc.pem))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if certs != nil {
					t.Errorf("certificates returned with the error")
				}
				return
			}
			if err != nil || len(certs) != tc.certs {
				t.Fatalf("got %d certificates, %v; want %d", len(certs), err, tc.certs)
			}
		})
	}
}

// TestReadCAFile: the file's certificates, its bytes, a pool that holds
// them, and errors that name the file.
func TestReadCAFile(t *testing.T) {
	dir := t.TempDir()
	ca, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	tlspolicytest.WriteKeyPair(t, ca, key, "ca.test")
	b, err := tlspolicy.ReadCAFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(ca)
	if len(b.Certs) != 1 || string(b.PEM) != string(data) {
		t.Fatalf("bundle: %d certificates, %d bytes", len(b.Certs), len(b.PEM))
	}
	if _, err := b.Certs[0].Verify(x509.VerifyOptions{Roots: b.Pool(), DNSName: "ca.test"}); err != nil {
		t.Errorf("the pool does not hold the certificate: %v", err)
	}
	if _, err := tlspolicy.ReadCAFile(key); err == nil || err.Error() != key+" holds no PEM certificate" {
		t.Errorf("a key file: %v", err)
	}
	if _, err := tlspolicy.ReadCAFile(filepath.Join(dir, "none.pem")); err == nil || !os.IsNotExist(err) {
		t.Errorf("a missing file: %v", err)
	}
}
