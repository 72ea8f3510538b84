package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stepgate.io/stepgate/test/harness"
)

// suite is what every test shares: one cluster and one stepgate binary.
// Each test starts its own stepgate server with its own store.
type suite struct {
	cluster  *harness.Cluster
	stepgate string // path of the built binary
	kubectl  string // the kubectl built with the cluster (v1.37.2)
	// systemKubectl is the machine's kubectl (a different minor version),
	// for the version matrix; "" if the machine has none.
	systemKubectl string
}

var env suite // set once in TestMain, read-only afterwards

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stepgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	env.stepgate = filepath.Join(dir, "stepgate")
	build := exec.Command("go", "build", "-o", env.stepgate, "stepgate.io/stepgate/cmd/stepgate")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build stepgate:", err)
		return 1
	}
	tools, err := harness.EnsureTools(ctx, harness.BuildOptions{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: the cluster's binaries cannot be built (run make tools):", err)
		return 1
	}
	c, err := harness.Start(ctx, harness.Options{Tools: tools, Log: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start cluster:", err)
		return 1
	}
	defer c.Stop()
	env.cluster, env.kubectl = c, tools.Kubectl
	if p, err := exec.LookPath("kubectl"); err == nil {
		env.systemKubectl = p
	}
	if err := c.Apply(ctx, baseObjects()); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: base objects:", err)
		return 1
	}
	for _, p := range []string{"web", "other"} {
		if err := c.WaitPodRunning(ctx, "e2e", p); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	}
	return m.Run()
}

// baseObjects: namespace e2e where group "devs" may do everything with the
// common resources, and two pods on the kwok node.
func baseObjects() string {
	var sb strings.Builder
	for _, ns := range []string{"e2e", "prod-eu", "prod-us", "staging"} {
		fmt.Fprintf(&sb, `apiVersion: v1
kind: Namespace
metadata: {name: %s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: devs, namespace: %s}
rules:
- apiGroups: [""]
  resources: [pods, pods/log, pods/exec, pods/attach, pods/portforward, configmaps, secrets, events]
  verbs: ["*"]
- apiGroups: [apps]
  resources: [deployments]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs, namespace: %s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: devs}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]
---
`, ns, ns, ns)
	}
	sb.WriteString(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: ns-reader}
rules: [{apiGroups: [""], resources: [namespaces], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: devs-ns-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ns-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: devs}]
---
`)
	sb.WriteString(podManifest("e2e", "web") + "---\n" + podManifest("e2e", "other"))
	return sb.String()
}

func podManifest(ns, name string) string { return env.cluster.PodManifest(ns, name) }

// ctxFor returns a context bounded well inside go test's timeout.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
