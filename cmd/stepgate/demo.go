package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"stepgate.io/stepgate/config"
	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/session"
	"stepgate.io/stepgate/test/harness"
)

const demoUser = "demo"

func runDemo(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "code" {
		return demoCode(e, args[1:])
	}
	fs := newFlags(e, "demo", "demo [--listen 127.0.0.1:8443] [--dir DIR]",
		"Starts a throwaway Kubernetes API server (etcd, kube-apiserver and kwok as the kubelet, built from the\n"+
			"Go module proxy on first use and cached) with stepgate in front of it, a demo user with an\n"+
			"authenticator app secret, the example step-up policy, and a kubeconfig. Ctrl-C stops it all.\n\n"+
			"  stepgate demo code --dir DIR   prints the demo user's current one-time code, for trying it without a phone")
	listen := fs.String("listen", "127.0.0.1:8443", "address stepgate listens on (port 0 picks a free one)")
	dir := fs.String("dir", "", "directory for the demo's state (default: a new temporary directory)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "stepgate demo: preparing a local cluster (the first run builds kube-apiserver: about 10 minutes)")
	tools, err := harness.EnsureTools(ctx, harness.BuildOptions{Progress: e.stderr})
	if err != nil {
		return fmt.Errorf("build the demo cluster's binaries (Go must be installed): %w", err)
	}
	cluster, err := harness.Start(ctx, harness.Options{Tools: tools, Log: e.stderr})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "stepgate-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	}
	d := &demo{e: e, dir: *dir, cluster: cluster}
	srv, err := d.start(ctx, *listen)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := d.introduce(ctx, srv); err != nil {
		return err
	}
	err = srv.Run(ctx)
	fmt.Fprintln(e.stderr, "\nstepgate demo: stopped; the cluster is shut down.")
	return err
}

type demo struct {
	e       *env
	dir     string
	cluster *harness.Cluster
}

func (d *demo) config(listen string) (*config.Configuration, error) {
	rf, err := config.ExampleRules()
	if err != nil {
		return nil, err
	}
	cfg := &config.Configuration{
		APIVersion: config.APIVersion, Kind: config.Kind, Listen: listen, DataDir: d.dir,
		Upstream: config.Upstream{Kubeconfig: d.cluster.ProxyKubeconfig}, Rules: rf.Rules, DefaultAction: rf.DefaultAction,
		Log: config.Log{Level: "warn", Format: "console"},
	}
	cfg.SetDefaults()
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return cfg, nil
}

func (d *demo) start(ctx context.Context, listen string) (*server, error) {
	cfg, err := d.config(listen)
	if err != nil {
		return nil, err
	}
	log, err := newLogger(d.e, cfg)
	if err != nil {
		return nil, err
	}
	upstream, err := upstreamConfig(cfg, zap.NewNop())
	if err != nil {
		return nil, err
	}
	if err := d.cluster.Apply(ctx, demoObjects(d.cluster)); err != nil {
		return nil, fmt.Errorf("demo objects: %w", err)
	}
	return startServer(ctx, d.e, cfg, log, upstream)
}

// demoObjects binds the demo group to cluster-admin (RBAC says yes to
// everything; stepgate's rules add the step-ups) and creates two pods.
func demoObjects(c *harness.Cluster) string {
	return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: stepgate-demo-admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: demo}]
---
apiVersion: v1
kind: Namespace
metadata: {name: prod-eu}
---
` + c.PodManifest("default", "web") + "---\n" + c.PodManifest("prod-eu", "web")
}

// introduce creates the demo user and prints how to try it.
func (d *demo) introduce(ctx context.Context, srv *server) error {
	password := randomPassword()
	if _, err := srv.mgr.CreateAccount(ctx, session.NewAccount{Name: demoUser, Password: password, Groups: []string{"demo"}}, "demo"); err != nil {
		return err
	}
	key, err := (mfa.TOTP{Issuer: "stepgate demo"}).NewKey(demoUser)
	if err != nil {
		return err
	}
	if _, err := srv.mgr.EnrollDirect(ctx, demoUser, key.Secret, time.Now()); err != nil {
		return err
	}
	// Kept in the clear only so `stepgate demo code` can play the phone.
	if err := os.WriteFile(filepath.Join(d.dir, "demo-totp.secret"), []byte(key.Secret+"\n"), 0o600); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(srv.caFile)
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(d.dir, "kubeconfig")
	if err := writeKubeconfigFile(kubeconfig, buildKubeconfig("stepgate-demo", srv.URL(), demoUser, self, "default", ca)); err != nil {
		return err
	}
	qr, err := mfa.TerminalQR(key.URL)
	if err != nil {
		return err
	}
	kubectl := "kubectl"
	if _, err := exec.LookPath("kubectl"); err != nil {
		kubectl = d.cluster.Tools.Kubectl
	}
	w := d.e.stderr
	fmt.Fprintf(w, "\nstepgate is running at %s, in front of the API server at %s.\n\n", srv.URL(), d.cluster.Server)
	fmt.Fprintf(w, "Demo user:  %s\nPassword:   %s\n\nScan this with an authenticator app (or type the secret %s):\n\n%s\n", demoUser, password, key.Secret, qr)
	fmt.Fprintf(w, "No phone at hand? In another terminal: %s demo code --dir %s\n\n", self, d.dir)
	fmt.Fprintf(w, "Then try:\n\n  export KUBECONFIG=%s\n", kubeconfig)
	fmt.Fprintf(w, "  %s get ns                        # signs you in: password, then a code\n", kubectl)
	fmt.Fprintf(w, "  %s delete pod web -n prod-eu     # a step-up rule asks for a fresh code first\n", kubectl)
	fmt.Fprintf(w, "  %s exec -it web -- sh            # a shell through stepgate (step-up too)\n\n", kubectl)
	fmt.Fprintf(w, "Policy: config/examples/rules.yaml. Press Ctrl-C to stop everything.\n")
	fmt.Fprintf(d.e.stdout, "KUBECONFIG=%s\n", kubeconfig)
	return nil
}

// randomPassword is four groups of five letters and digits (about 100 bits).
func randomPassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
	b := make([]byte, 20)
	rand.Read(b)
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%5 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}

// demoCode prints the demo user's current code.
func demoCode(e *env, args []string) error {
	fs := newFlags(e, "demo code", "demo code --dir DIR", "Prints the demo user's current one-time code (the demo's stand-in for a phone).")
	dir := fs.String("dir", "", "the demo's directory, as printed by stepgate demo")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageErr("--dir is required")
	}
	b, err := os.ReadFile(filepath.Join(*dir, "demo-totp.secret"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no demo secret in %s: is stepgate demo running with --dir %s?", *dir, *dir)
		}
		return err
	}
	code, err := (mfa.TOTP{}).Code(strings.TrimSpace(string(b)), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, code)
	return nil
}
