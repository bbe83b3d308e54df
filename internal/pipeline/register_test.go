package pipeline

import (
	"strings"
	"testing"
)

type regTestConfig struct {
	A string `yaml:"a"`
}

type stubDecoder struct{ called bool }

func (d *stubDecoder) Decode(any) error { d.called = true; return nil }

// TestRegisterDeclaresConfigType: a kind is registered with its config
// struct; ConfigType returns it; the compiler Lookup returns may decode
// only into that type (another is an error, and nothing is decoded); a
// kind without a config struct is refused at registration.
func TestRegisterDeclaresConfigType(t *testing.T) {
	var decodeInto any
	Register("test_register_kind", regTestConfig{}, func(d Decoder, _ CompileEnv) (any, error) {
		return nil, d.Decode(decodeInto)
	})
	if got := ConfigType("test_register_kind"); got == nil || got.Name() != "regTestConfig" {
		t.Fatalf("ConfigType = %v", got)
	}
	if ConfigType("no_such_kind") != nil {
		t.Fatal("an unknown kind has a config type")
	}
	comp, ok := Lookup("test_register_kind")
	if !ok {
		t.Fatal("not registered")
	}
	for _, tc := range []struct {
		desc string
		into any
		ok   bool
	}{
		{"the declared type", &regTestConfig{}, true},
		{"another struct", &struct{ A string }{}, false},
		{"not a pointer", regTestConfig{}, false},
		{"nil", nil, false},
	} {
		decodeInto = tc.into
		d := &stubDecoder{}
		_, err := comp(d, CompileEnv{})
		if (err == nil) != tc.ok || d.called != tc.ok {
			t.Errorf("%s: err %v, decoded %v", tc.desc, err, d.called)
		}
		if err != nil && !strings.Contains(err.Error(), "registered pipeline.regTestConfig") {
			t.Errorf("%s: error %q does not name the registered type", tc.desc, err)
		}
	}
	for _, bad := range []any{nil, &regTestConfig{}, "x"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register with config %#v did not panic", bad)
				}
			}()
			Register("test_register_bad", bad, nil)
		}()
	}
}
