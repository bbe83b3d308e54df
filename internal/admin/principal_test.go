package admin

import (
	"context"
	"testing"
)

// TestPrincipalTravelsInRequestContext: what the audit trail reads is the
// principal wrap authenticated, user principals included.
func TestPrincipalTravelsInRequestContext(t *testing.T) {
	if _, ok := principalFrom(context.Background()); ok {
		t.Fatal("a context without a caller named one")
	}
	for _, tc := range []struct {
		desc string
		p    principal
	}{
		{"token", principal{kind: KindToken, name: "token_1", role: "admin", client: "127.0.0.1"}},
		{"user with a session", principal{kind: KindUser, name: "alice", role: "operator", client: "::1", session: "ab12"}},
	} {
		got, ok := principalFrom(withPrincipal(context.Background(), tc.p))
		if !ok || got != tc.p {
			t.Errorf("%s: got %+v %v", tc.desc, got, ok)
		}
		if a := got.actor(); a.Kind != tc.p.kind || a.Name != tc.p.name {
			t.Errorf("%s: actor %+v", tc.desc, a)
		}
	}
}
