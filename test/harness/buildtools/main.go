// Command buildtools builds, or finds in the cache, the binaries that the
// end-to-end tests, the benchmarks and `stepgate demo` run: kube-apiserver,
// kubectl, etcd and kwok. The Makefile runs it before `go test`, so that no
// test binary spends go test's timeout on a cold build. Progress goes to
// stderr; the paths go to stdout.
//
// Usage:
//
//	go run ./test/harness/buildtools
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"stepgate.io/stepgate/test/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	t, err := harness.EnsureTools(ctx, harness.BuildOptions{Progress: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildtools:", err)
		stop()
		os.Exit(1)
	}
	fmt.Printf("kube-apiserver %s\nkubectl        %s\netcd           %s\nkwok           %s\nkwok stages    %s\n",
		t.KubeAPIServer, t.Kubectl, t.Etcd, t.Kwok, t.KwokStages)
	fmt.Fprintf(os.Stderr, "buildtools: tools ready in %s\n", time.Since(start).Round(time.Second))
}
