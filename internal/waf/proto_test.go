package waf

import (
	"testing"
)

func TestProtoBuild(t *testing.T) {
	s := settings{blocking: true, paranoia: 1, threshold: 5, inspectBody: true, bodyLimit: 128 << 10}
	w, d, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build %v", d)
	tx := w.NewTransaction()
	tx.ProcessConnection("127.0.0.1", 0, "", 0)
	tx.ProcessURI("/x?id=1' OR '1'='1", "GET", "HTTP/1.1")
	tx.AddRequestHeader("Host", "api.example.com")
	it := tx.ProcessRequestHeaders()
	if it == nil {
		it, _ = tx.ProcessRequestBody()
	}
	t.Logf("%+v", it)
	for _, m := range tx.MatchedRules() {
		t.Logf("%d %q disr=%v", m.Rule().ID(), m.Message(), m.Disruptive())
	}
}
