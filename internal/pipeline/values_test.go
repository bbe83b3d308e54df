package pipeline

import "testing"

func TestContextValues(t *testing.T) {
	var c Context
	a, b := new(int), new(int)
	if c.Value(a) != nil {
		t.Fatal("value before set")
	}
	c.SetValue(a, "one")
	c.SetValue(b, "two")
	c.SetValue(a, "uno")
	if c.Value(a) != "uno" || c.Value(b) != "two" || len(c.values) != 2 {
		t.Fatalf("values %v", c.values)
	}
}

// The first value a request's policies set lives in the Context itself;
// more grow a slice of their own and keep every value.
func TestContextValuesInline(t *testing.T) {
	keys := []*int{new(int), new(int), new(int)}
	c := new(Context)
	allocs := testing.AllocsPerRun(20, func() {
		*c = Context{}
		c.SetValue(keys[0], keys[0])
	})
	if allocs != 0 {
		t.Errorf("one value costs %v allocations", allocs)
	}
	c.SetValue(keys[1], keys[1])
	c.SetValue(keys[2], keys[2])
	for _, k := range keys {
		if c.Value(k) != k {
			t.Fatalf("value of %p: %v", k, c.Value(k))
		}
	}
}
