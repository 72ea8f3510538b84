// Package e2e holds stepgate's end-to-end tests: the real stepgate binary
// in front of a real kube-apiserver (with etcd, and kwok as the kubelet),
// driven by the real kubectl under a pseudo-terminal so the credential
// plugin's prompts are answered as a person would.
//
// The tests never skip: a missing prerequisite fails them. Build the
// cluster binaries first with `make tools` (make test does).
package e2e
