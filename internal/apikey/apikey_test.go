package apikey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestGenerateShapeAndChecksum(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		k, err := Generate("")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k, DefaultPrefix) || len(k) != len(DefaultPrefix)+PayloadLen+ChecksumLen {
			t.Fatalf("key %q has the wrong shape", k)
		}
		p, err := Parse(k)
		if err != nil {
			t.Fatalf("Parse(generated) = %v", err)
		}
		if p.Prefix != DefaultPrefix || len(p.Payload) != PayloadLen || len(p.Checksum) != ChecksumLen {
			t.Fatalf("parts %+v", p)
		}
		if seen[k] {
			t.Fatal("the same key twice")
		}
		seen[k] = true
	}
}

func TestGenerateIsDeterministicForAReader(t *testing.T) {
	zeros := bytes.NewReader(make([]byte, EntropyBytes))
	k, err := GenerateFrom(zeros, "pk_live")
	if err != nil {
		t.Fatal(err)
	}
	body := "pk_live_" + strings.Repeat("0", PayloadLen)
	if !strings.HasPrefix(k, body) {
		t.Fatalf("key %q", k)
	}
	// The checksum is CRC-32 IEEE of prefix+payload in base62.
	n := crc32.ChecksumIEEE([]byte(body))
	if want := body + encodeUint(n, ChecksumLen); k != want {
		t.Fatalf("key %q, want %q", k, want)
	}
	ff := bytes.NewReader(bytes.Repeat([]byte{0xff}, EntropyBytes))
	k, err = GenerateFrom(ff, "")
	if err != nil || Check(k) != nil {
		t.Fatalf("all-ones entropy: %q %v", k, err)
	}
	if _, err := GenerateFrom(bytes.NewReader(nil), ""); err == nil {
		t.Fatal("short entropy must fail")
	}
}

func TestCRCMatchesStandardLibrary(t *testing.T) {
	for _, s := range []string{"", "a", "pcl_hello", strings.Repeat("xyz", 40)} {
		if got, want := crc(s), crc32.ChecksumIEEE([]byte(s)); got != want {
			t.Errorf("crc(%q) = %x, want %x", s, got, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	good, _ := Generate("")
	last := good[len(good)-1]
	other := byte('0')
	if last == '0' {
		other = '1'
	}
	flipPayload := []byte(good)
	i := len(DefaultPrefix) + 5
	if flipPayload[i] == 'A' {
		flipPayload[i] = 'B'
	} else {
		flipPayload[i] = 'A'
	}
	cases := []struct {
		name, key string
		want      error
	}{
		{"empty", "", ErrFormat},
		{"short", good[:len(good)-1], ErrFormat},
		{"long prefix", strings.Repeat("a", MaxPrefixLen) + "_" + good[len(DefaultPrefix):], ErrFormat},
		{"no underscore", "pcl" + good[len(DefaultPrefix):], ErrFormat},
		{"non-base62", good[:len(good)-2] + "-" + good[len(good)-1:], ErrFormat},
		{"prefix starts with digit", "1" + good[1:], ErrFormat},
		{"checksum typo", good[:len(good)-1] + string(other), ErrChecksum},
		{"payload typo", string(flipPayload), ErrChecksum},
		{"other prefix", "pcx_" + good[len(DefaultPrefix):], ErrChecksum},
	}
	for _, c := range cases {
		if _, err := Parse(c.key); !errors.Is(err, c.want) {
			t.Errorf("%s: Parse = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{"": "pcl_", "pk_live": "pk_live_", "pk_live_": "pk_live_", "Acme1": "Acme1_"} {
		got, err := NormalizePrefix(in)
		if err != nil || got != want {
			t.Errorf("NormalizePrefix(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"_", "1abc", "pk-live", "pk live", strings.Repeat("a", MaxPrefixLen)} {
		if _, err := NormalizePrefix(bad); err == nil {
			t.Errorf("NormalizePrefix(%q) accepted", bad)
		}
	}
}

func TestDigest(t *testing.T) {
	k := "pcl_example"
	d := Hash(k)
	want := sha256.Sum256([]byte(k))
	if d != Digest(want) {
		t.Fatal("Hash is not SHA-256")
	}
	s := d.String()
	if s != "sha256:"+hex.EncodeToString(want[:]) {
		t.Fatalf("String = %q", s)
	}
	back, err := ParseDigest(s)
	if err != nil || back != d {
		t.Fatalf("ParseDigest round trip: %v", err)
	}
	long := strings.Repeat("k", MaxLen+10)
	if Hash(long) != Digest(sha256.Sum256([]byte(long))) {
		t.Fatal("Hash of a long key")
	}
	for _, bad := range []string{"", "sha256:", "sha1:" + hex.EncodeToString(want[:]), "sha256:" + strings.Repeat("z", 64), s + "00"} {
		if _, err := ParseDigest(bad); err == nil {
			t.Errorf("ParseDigest(%q) accepted", bad)
		}
	}
}

func TestParseAndHashDoNotAllocate(t *testing.T) {
	k, _ := Generate("")
	n := testing.AllocsPerRun(100, func() {
		if Check(k) != nil {
			t.Fatal("check")
		}
		_ = Hash(k)
	})
	if n != 0 {
		t.Fatalf("%v allocations per Check+Hash", n)
	}
}

// FuzzParseKey: its seed corpus is in testdata/fuzz/FuzzParseKey.
func FuzzParseKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if p.Prefix+p.Payload+p.Checksum != s {
			t.Fatalf("parts do not rebuild the key")
		}
		if !validPrefix(p.Prefix) || len(p.Payload) != PayloadLen || len(p.Checksum) != ChecksumLen {
			t.Fatalf("accepted a malformed key: %+v", p)
		}
		if encodeUint(crc32.ChecksumIEEE([]byte(p.Prefix+p.Payload)), ChecksumLen) != p.Checksum {
			t.Fatal("accepted a wrong checksum")
		}
	})
}

func BenchmarkCheckAndHash(b *testing.B) {
	k, _ := Generate("")
	b.ReportAllocs()
	for b.Loop() {
		if Check(k) != nil {
			b.Fatal("check")
		}
		_ = Hash(k)
	}
}
