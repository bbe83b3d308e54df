package gateway

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// describedFamilies starts no listener: it builds a gateway and lists every
// metric family name its registry describes.
func describedFamilies(t *testing.T) map[string]bool {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	cfg := "version: 1\nlisteners: [{name: public, address: \"127.0.0.1:0\"}]\nops: {disable: true}\naccess_log: {output: \"off\"}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{ConfigPath: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.reg.Close)
	ch := make(chan *prometheus.Desc, 256)
	go func() { g.obs.reg.Describe(ch); close(ch) }()
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// metricNamesIn lists the metric names a document mentions, histogram
// series suffixes removed when the base is a family.
func metricNamesIn(doc string, families map[string]bool) []string {
	seen := map[string]bool{}
	for _, n := range regexp.MustCompile(`\b(?:portcullis|go|process)_[a-z0-9_]+`).FindAllString(doc, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b := strings.TrimSuffix(n, suf); b != n && families[b] {
				n = b
			}
		}
		seen[n] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestGrafanaDashboardUsesExistingMetrics: every metric the dashboard in
// docs/ queries is one the gateway exports.
func TestGrafanaDashboardUsesExistingMetrics(t *testing.T) {
	families := describedFamilies(t)
	b, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	names := metricNamesIn(string(b), families)
	if len(names) < 20 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(names), names)
	}
	for _, n := range names {
		if !families[n] {
			t.Errorf("docs/grafana-dashboard.json queries %s, which the gateway does not export", n)
		}
	}
}

// TestObservabilityDocListsEveryMetric: every family the gateway exports
// (besides the Go runtime's and the process's) is documented.
func TestObservabilityDocListsEveryMetric(t *testing.T) {
	b, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name := range describedFamilies(t) {
		if strings.HasPrefix(name, "portcullis_") && !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/observability.md does not document %s", name)
		}
	}
	families := describedFamilies(t)
	for _, n := range metricNamesIn(doc, families) {
		if strings.HasPrefix(n, "portcullis_") && !families[n] {
			t.Errorf("docs/observability.md names %s, which the gateway does not export", n)
		}
	}
}
