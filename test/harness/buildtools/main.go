// Command buildtools builds (or finds cached) the binaries the end-to-end
// tests and the demo need: kube-apiserver, kubectl, etcd and kwok. The
// Makefile runs it before `go test` so no test binary waits on a cold
// build inside go test's timeout.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"stepgate.io/stepgate/test/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := harness.EnsureTools(ctx, harness.BuildOptions{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildtools:", err)
		os.Exit(1)
	}
	fmt.Printf("kube-apiserver %s\nkubectl        %s\netcd           %s\nkwok           %s\nkwok stages    %s\n",
		t.KubeAPIServer, t.Kubectl, t.Etcd, t.Kwok, t.KwokStages)
}
