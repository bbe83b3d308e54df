package validate

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// TestSignatureStoreKeys: the store's signature_key credentials (carried
// by consumers) join the policy's own keys, bound to their consumer; a
// key id in both, or held by two consumers, is an error; a policy may list
// no key of its own only when an admin store can supply them.
func TestSignatureStoreKeys(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	fileKey := `
keys:
  - {id: file-key, algorithm: hmac-sha256, secret: "` + strings.Repeat("f", 32) + `"}
required_components: ["@method"]`
	noKeys := `
keys: []
required_components: ["@method"]`
	consumer := func(name string, keys ...config.SignatureKeyCredential) config.Consumer {
		return config.Consumer{Name: name, Credentials: config.Credentials{SignatureKeys: keys}}
	}
	hmacKey := func(id string) config.SignatureKeyCredential {
		return config.SignatureKeyCredential{ID: id, Algorithm: AlgHMACSHA256, Secret: secret}
	}
	for _, tc := range []struct {
		desc      string
		src       string
		admin     bool
		consumers []config.Consumer
		wantKeys  []string // key ids the policy verifies with
		wantErr   string
	}{
		{desc: "file and store keys together", src: fileKey, admin: true, consumers: []config.Consumer{consumer("a", hmacKey("store-key"))}, wantKeys: []string{"file-key", "store-key"}},
		{desc: "store keys only, with an admin store", src: noKeys, admin: true, consumers: []config.Consumer{consumer("a", hmacKey("store-key"))}, wantKeys: []string{"store-key"}},
		{desc: "no keys without an admin store", src: noKeys, wantErr: "at least one key is required"},
		{desc: "a store key with the file key's id", src: fileKey, admin: true, consumers: []config.Consumer{consumer("a", hmacKey("file-key"))},
			wantErr: `key id "file-key" is also the signature_key credential of consumer "a"`},
		{desc: "one key id held by two consumers", src: noKeys, admin: true, consumers: []config.Consumer{consumer("a", hmacKey("k")), consumer("b", hmacKey("k"))},
			wantErr: `signature key id "k" is held by consumers "a" and "b"`},
		{desc: "a store key too short", src: noKeys, admin: true,
			consumers: []config.Consumer{consumer("a", config.SignatureKeyCredential{ID: "k", Algorithm: AlgHMACSHA256, Secret: []byte("short")})},
			wantErr:   "secret must be at least 32 bytes"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			env := pipelinetest.Env("t.yaml", nil)
			env.Config.Consumers = tc.consumers
			if tc.admin {
				env.Config.Admin = &config.Admin{}
			}
			v, err := pipelinetest.Mapping(t, "t.yaml", "kind: signature"+tc.src, env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), string(secret)) {
					t.Fatal("the error repeats a secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := v.(*signaturePolicy)
			if len(p.v.keys) != len(tc.wantKeys) {
				t.Fatalf("keys = %v, want %v", p.v.keys, tc.wantKeys)
			}
			for _, id := range tc.wantKeys {
				k := p.v.keys[id]
				if k == nil {
					t.Fatalf("key %q missing", id)
				}
				if id == "store-key" && k.Consumer != "a" {
					t.Fatalf("store key bound to %q, want its consumer", k.Consumer)
				}
			}
		})
	}
}
