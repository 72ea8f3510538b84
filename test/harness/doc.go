// Package harness brings up a real, local Kubernetes control plane for
// stepgate's end-to-end tests, its benchmarks and `stepgate demo`: etcd,
// kube-apiserver and kwok standing in for the kubelet of one node, so that
// exec, logs, attach and port-forward really run. It does not import
// package testing (the stepgate binary links it); StartForTest takes the
// small TB interface instead.
//
// # Binaries
//
// EnsureTools builds kube-apiserver and kubectl (Kubernetes v1.37.2), etcd
// (v3.6.6) and kwok (v0.8.0) from the Go module proxy through the go
// command, in throwaway modules, and caches them outside the source tree
// ($STEPGATE_CACHE_DIR, default the user cache dir's "stepgate"), keyed by
// version and platform. A cold kube-apiserver build takes about ten minutes
// on two cores, longer than go test's default timeout, so builds report
// progress and `go run ./test/harness/buildtools` runs them before the
// tests. kwok is built with one fix (see kwokStdinFrom) without which
// `kubectl cp` and `kubectl exec -i` with a finite stdin never end.
//
// # The cluster
//
// Start runs everything on free loopback ports with fresh key material: a
// CA, serving certificates for the API server and for kwok (the API server
// verifies the kubelet it talks to), the service-account key pair, and a
// static token file with two users. AdminUser is in system:masters.
// ProxyUser may do nothing but impersonate users, groups, service
// accounts, uids and user extras, as stepgate's own identity needs. No
// controller manager or scheduler runs: pods name the node themselves, the
// default service account is created by Start, the ServiceAccount
// admission plugin is off so pods may run in any namespace, and the
// aggregated ClusterRoles (view, edit, admin) are empty.
//
// Every pod on the node gets kwok's debugging features: exec runs a local
// /bin/sh in Cluster.ExecDir, logs serve Cluster.LogsFile, attach streams
// Cluster.AttachFile, and every port forwards to an echo server at
// Cluster.EchoPort.
//
// # Processes
//
// Each component runs in its own process group with its output in a log
// file in the working dir; errors about a component end with its log's
// last lines. Stop ends them (SIGTERM, then SIGKILL). They also die with
// the test binary however it ends, even on SIGKILL: they are started from
// an OS thread that stays locked for the cluster's life and carry a
// parent-death signal bound to that thread.
//
// Tokens and keys are written with mode 0600 in the working dir and never
// logged; everything listens on 127.0.0.1 only.
package harness
