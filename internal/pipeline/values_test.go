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
