package gateway

import (
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestLoadCertSetNamesEveryBrokenEntry: a listener's certificates that do
// not load are each reported with their place in the list (the loader
// shows them at listeners[i].tls.certificates[j]), not only the first; and
// no set is returned while one is broken.
func TestLoadCertSetNamesEveryBrokenEntry(t *testing.T) {
	dir := t.TempDir()
	at := func(f string) string { return filepath.Join(dir, f) }
	tlspolicytest.WriteKeyPair(t, at("a.crt"), at("a.key"), "a.test")
	tlspolicytest.WriteKeyPair(t, at("b.crt"), at("b.key"), "b.test")

	good := []config.Certificate{{CertFile: at("a.crt"), KeyFile: at("a.key")}, {CertFile: at("b.crt"), KeyFile: at("b.key")}}
	cs, errs := loadCertSet(good)
	if errs != nil || cs == nil || len(cs.certs) != 2 || cs.exact["b.test"] == nil {
		t.Fatalf("two good pairs: %v %v", cs, errs)
	}

	broken := []config.Certificate{
		{CertFile: at("a.crt"), KeyFile: at("b.key")}, // another certificate's key
		{CertFile: at("b.crt"), KeyFile: at("b.key")},
		{CertFile: at("none.crt"), KeyFile: at("a.key")},
	}
	cs, errs = loadCertSet(broken)
	if cs != nil {
		t.Errorf("a set returned with broken entries")
	}
	if len(errs) != 2 || errs[0].index != 0 || errs[1].index != 2 {
		t.Fatalf("errors %v, want entries 0 and 2", errs)
	}
}
