package validate

import (
	"bufio"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// The RFC 9421 appendix B.1 test keys.
const (
	rfcSharedSecretB64 = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ=="
	rfcEd25519Public   = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n"
	rfcEd25519Private  = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n"
	rfcCreated         = 1618884473
)

// rfcTestRequest is the RFC 9421 appendix B.2 "test-request".
const rfcTestRequest = "POST /foo?param=Value&Pet=dog HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Date: Tue, 20 Apr 2021 02:07:55 GMT\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\r\n" +
	"Content-Length: 18\r\n" +
	"\r\n" +
	`{"hello": "world"}`

// sigRFCRequest parses the RFC test request as the gateway's server would.
func sigRFCRequest(t testing.TB) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(rfcTestRequest)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rfcPrivate(t testing.TB) ed25519.PrivateKey {
	blk, _ := pem.Decode([]byte(rfcEd25519Private))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

// sigCompile compiles a signature policy from YAML with the given
// consumers and state (a reload keeps state).
func sigCompile(t testing.TB, src string, consumers []string, state *pipeline.SharedValues) (*signaturePolicy, error) {
	t.Helper()
	env := pipelinetest.Env("t.yaml", state)
	for _, c := range consumers {
		env.Config.Consumers = append(env.Config.Consumers, config.Consumer{Name: c})
	}
	v, err := pipelinetest.Mapping(t, "t.yaml", src, env)
	if err != nil {
		return nil, err
	}
	return v.(*signaturePolicy), nil
}

// sigSigner signs requests as a client would, for the policy tests.
type sigSigner struct {
	keyID  string
	secret []byte             // hmac-sha256
	priv   ed25519.PrivateKey // ed25519
}

// sign adds Signature-Input and Signature under label. params is the
// parameter text after the inner list, e.g. `;created=1;keyid="k"`.
func (s sigSigner) sign(t testing.TB, r *http.Request, label string, components []string, params string) {
	t.Helper()
	quoted := make([]string, len(components))
	for i, c := range components {
		quoted[i] = `"` + c + `"`
	}
	input := "(" + strings.Join(quoted, " ") + ")" + params
	dict, err := parseSFDictionary(label + "=" + input)
	if err != nil {
		t.Fatalf("signer: %v", err)
	}
	in, ok := parseSignatureInput(dict[0])
	if !ok {
		t.Fatalf("signer: bad input %q", input)
	}
	base, err := appendSignatureBase(nil, r, in)
	if err != nil {
		t.Fatalf("signer: base: %v", err)
	}
	var sig []byte
	if s.priv != nil {
		sig = ed25519.Sign(s.priv, base)
	} else {
		m := hmac.New(sha256.New, s.secret)
		m.Write(base)
		sig = m.Sum(nil)
	}
	r.Header.Set("Signature-Input", label+"="+input)
	r.Header.Set("Signature", label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
}

// sigParams is the usual parameter text.
func sigParams(keyID string, created time.Time, nonce string) string {
	p := fmt.Sprintf(";created=%d;keyid=%q", created.Unix(), keyID)
	if nonce != "" {
		p += fmt.Sprintf(";nonce=%q", nonce)
	}
	return p
}
