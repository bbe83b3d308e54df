package authz

import (
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func TestACLDecisions(t *testing.T) {
	staff := &pipeline.Identity{Consumer: "alice", Method: "api_key", Groups: []string{"staff", "eu"}}
	suspendedStaff := &pipeline.Identity{Consumer: "mallory", Method: "jwt", Groups: []string{"staff", "suspended"}}
	partner := &pipeline.Identity{Consumer: "bob", Method: "basic", Groups: []string{"partners"}}
	nobody := &pipeline.Identity{Consumer: "carol", Method: "jwt"}
	guest := &pipeline.Identity{Consumer: "guest", Method: "anonymous", Groups: []string{"public"}}

	p := mustCompile(t, "kind: acl\nallow: [staff, admins]\ndeny: [suspended]\n")
	wantAllowed(t, "staff", p, reqCtx("GET", "/x", staff))
	wantRefused(t, "deny wins over allow", p, reqCtx("GET", "/x", suspendedStaff), 403, "acl: group denied")
	wantRefused(t, "group not allowed", p, reqCtx("GET", "/x", partner), 403, "acl: group not allowed")
	wantRefused(t, "no groups", p, reqCtx("GET", "/x", nobody), 403, "acl: group not allowed")
	wantRefused(t, "no identity", p, reqCtx("GET", "/x", nil), 403, "acl: no identity")

	denyOnly := mustCompile(t, "kind: acl\ndeny: [suspended]\n")
	wantAllowed(t, "deny only: staff", denyOnly, reqCtx("GET", "/x", staff))
	wantAllowed(t, "deny only: no groups", denyOnly, reqCtx("GET", "/x", nobody))
	wantRefused(t, "deny only: suspended", denyOnly, reqCtx("GET", "/x", suspendedStaff), 403, "acl: group denied")
	wantRefused(t, "deny only: anonymous did not authenticate", denyOnly, reqCtx("GET", "/x", guest), 403, "acl: anonymous consumer")

	public := mustCompile(t, "kind: acl\nallow: [public]\n")
	wantAllowed(t, "anonymous named by allow", public, reqCtx("GET", "/x", guest))
}

func TestACLRefusalBody(t *testing.T) {
	p := mustCompile(t, "kind: acl\nallow: [staff]\n")
	prob := wantRefused(t, "403", p, reqCtx("GET", "/x", &pipeline.Identity{Consumer: "bob", Method: "jwt"}), 403, "acl: group not allowed")
	body := problemJSON(t, prob)
	if body["status"] != float64(403) || body["detail"] != "The request is not allowed." || body["title"] != "Forbidden" {
		t.Errorf("body %v", body)
	}

	hidden := mustCompile(t, "kind: acl\nallow: [staff]\nhide: true\n")
	prob = wantRefused(t, "hidden", hidden, reqCtx("GET", "/x", &pipeline.Identity{Consumer: "bob", Method: "jwt"}), 404, "acl: group not allowed")
	body = problemJSON(t, prob)
	if body["status"] != float64(404) || body["detail"] != "No route matches the request." || body["title"] != "Not Found" {
		t.Errorf("hidden body %v", body)
	}
}

func TestACLConfigErrors(t *testing.T) {
	wantCompileError(t, "kind: acl\n", "at least one of allow or deny")
	wantCompileError(t, "kind: acl\ndeny: []\n", "at least one of allow or deny")
	// An allow list written empty beside a deny list would let every
	// group not denied through: the opposite of "allow none".
	wantCompileError(t, "kind: acl\nallow: []\ndeny: [contractors]\n", "allow: [] here would mean every group not denied")
	wantCompileError(t, "kind: acl\nallow: [a, a]\n", `allow[1]: group "a" is listed twice`)
	wantCompileError(t, "kind: acl\ndeny: [\"\"]\n", "deny[0]: a group name is empty")
	wantCompileError(t, "kind: acl\nallow: [a]\ndeny: [a]\n", `group "a" is in both allow and deny`)
	err := wantCompileError(t, "kind: acl\nallow: [a]\nalow: [b]\n", "alow")
	if want := "test.yaml:3:"; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q has no position %s", err, want)
	}
}

func TestRefusalsAreCounted(t *testing.T) {
	state := pipeline.NewSharedValues()
	env := pipeline.CompileEnv{Route: "orders", State: state}
	r, err := newRefuser(env, "acl", false)
	if err != nil {
		t.Fatal(err)
	}
	r.refuse(reasonGroupDenied)
	r.refuse(reasonGroupDenied)
	r.refuse(reasonGroupNotAllowed)
	m, err := MetricsOf(env)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Counts()
	want := []Count{{"orders", "acl", reasonGroupDenied, 2}, {"orders", "acl", reasonGroupNotAllowed, 1}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("counts %v, want %v", got, want)
	}
}
