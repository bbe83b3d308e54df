// Package concurrency bounds what is in flight at once, so that one client
// or one slow service cannot take the gateway down:
//
//   - Listener bounds the open connections of a listener, in total and per
//     peer address.
//   - the "concurrency" policy kind (limit phase) bounds the requests in
//     flight per route or per consumer, with a short FIFO queue and a
//     deadline.
package concurrency
