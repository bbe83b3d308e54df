package apikey

import (
	"bytes"
	"errors"
	"testing"
)

// Known answers computed outside Go (Python: int.from_bytes, zlib.crc32,
// hashlib.sha256, the base62 alphabet 0-9A-Za-z most significant digit
// first), so a silent change of the key format, checksum or hash fails
// here instead of invalidating every key already handed out.
var apiKeyKAT = []struct {
	desc     string
	entropy  []byte
	prefix   string
	key      string
	payload  string
	checksum string // base62 of the CRC-32 (IEEE) of prefix+payload
	hash     string // sha256 of the whole key, as the config stores it
}{
	{
		desc: "bytes 0..31, the default prefix",
		entropy: func() []byte {
			b := make([]byte, 32)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(),
		key:      "pcl_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf2ZF8c1",
		payload:  "003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf",
		checksum: "2ZF8c1", // CRC-32 0x8c409fcd
		hash:     "sha256:c999df0cf12df5937da41082bd4413638c041b009d27b7e23e44a107754d7616",
	},
	{
		desc:     "all ones, a chosen prefix without its underscore",
		entropy:  bytes.Repeat([]byte{0xff}, 32),
		prefix:   "pk_live",
		key:      "pk_live_yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp12HLJpp",
		payload:  "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1",
		checksum: "2HLJpp", // CRC-32 0x7c7ca901
		hash:     "sha256:5212ce5b900469342a0bb968458780404f1e9b2a0acb8c3444084fb47c493120",
	},
}

func TestAPIKeyKnownAnswers(t *testing.T) {
	for _, tc := range apiKeyKAT {
		t.Run(tc.desc, func(t *testing.T) {
			key, err := GenerateFrom(bytes.NewReader(tc.entropy), tc.prefix)
			if err != nil || key != tc.key {
				t.Fatalf("GenerateFrom = %q, %v; want %q", key, err, tc.key)
			}
			p, err := Parse(tc.key)
			if err != nil || p.Payload != tc.payload || p.Checksum != tc.checksum {
				t.Fatalf("Parse = %+v, %v; want payload %q checksum %q", p, err, tc.payload, tc.checksum)
			}
			if got := Hash(tc.key).String(); got != tc.hash {
				t.Fatalf("Hash = %s, want %s", got, tc.hash)
			}
			d, err := ParseDigest(tc.hash)
			if err != nil || d != Hash(tc.key) {
				t.Fatalf("ParseDigest(%s) = %v, %v", tc.hash, d, err)
			}
			// The literal checksum is the only one that passes: the next
			// digit in its last place is refused.
			bad := []byte(tc.key)
			bad[len(bad)-1] = alphabet[(digit(bad[len(bad)-1])+1)%62]
			if err := Check(string(bad)); !errors.Is(err, ErrChecksum) {
				t.Fatalf("Check(%s) = %v, want ErrChecksum", bad, err)
			}
		})
	}
}
