// Package bench measures what stepgate costs, side by side with the API
// server, in one run on one machine: straight to the API server, through a
// bare httputil.ReverseProxy that only swaps in a static token and sets
// impersonation headers (the floor any Go proxy pays), and through
// stepgate with a signed-in session and a realistic rule set.
//
// The three paths send the API server the same impersonation headers, so
// it does the same work for each and the differences are the proxies'.
// The paths are interleaved round by round so that drift on a shared,
// noisy machine hits them alike. Each proxy runs in its own process so its
// CPU per request can be read from /proc; the load generator runs in this
// one. Nothing here asserts a timing: the report states what was measured
// and which goals were met.
package bench
