// Package harness brings up a real, local Kubernetes control plane for
// stepgate's end-to-end tests and for `stepgate demo`: etcd, kube-apiserver
// and kwok (standing in for the kubelet, so exec, logs, attach and
// port-forward really run), all on loopback with generated certificates
// and tokens.
//
// The binaries are built from the Go module proxy the first time and
// cached outside the source tree, keyed by version and platform
// ($STEPGATE_CACHE_DIR, default the user cache dir's "stepgate"). A cold
// kube-apiserver build takes about ten minutes on two cores, so builds
// report progress; `go run ./test/harness/buildtools` does them ahead of
// the tests.
//
// Every process the harness starts dies with it: children run in their own
// process group, are stopped on Stop, and carry a parent-death signal from
// an OS thread that lives as long as the cluster, so an interrupted test
// leaves nothing behind.
package harness
