package pipeline

// Finisher is told when a request is over: the response has been written
// (or the request refused) and the gateway is done with it. Policies that
// hold something for the request's lifetime (a concurrency slot) register
// one with Context.OnFinish.
type Finisher interface {
	Finish(c *Context)
}

// OnFinish registers f to run when the request is over. Only requests that
// register a Finisher pay for it.
func (c *Context) OnFinish(f Finisher) {
	c.finishers = append(c.finishers, f)
}

// Finish runs the registered Finishers, last registered first, once. The
// gateway calls it after the response is done.
func (c *Context) Finish() {
	for i := len(c.finishers) - 1; i >= 0; i-- {
		f := c.finishers[i]
		c.finishers[i] = nil
		f.Finish(c)
	}
	c.finishers = c.finishers[:0]
}
