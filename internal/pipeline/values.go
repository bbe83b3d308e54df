package pipeline

// ctxValue is one entry of a Context's per-request values.
type ctxValue struct {
	key, val any
}

// SetValue stores per-request data under key, for a later method of the
// same policy (a rate limit's Handle leaves the remaining quota for its
// Respond). key should be something the policy owns, usually a pointer to
// itself, so two policies never collide. A second SetValue with the same
// key replaces the value.
func (c *Context) SetValue(key, val any) {
	for i := range c.values {
		if c.values[i].key == key {
			c.values[i].val = val
			return
		}
	}
	if c.values == nil {
		c.values = c.valuesBuf[:0]
	}
	c.values = append(c.values, ctxValue{key, val})
}

// Value returns what SetValue stored under key, or nil.
func (c *Context) Value(key any) any {
	for i := range c.values {
		if c.values[i].key == key {
			return c.values[i].val
		}
	}
	return nil
}
