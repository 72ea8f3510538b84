package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

// MicroResult is an in-process measurement of one hot-path function.
type MicroResult struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"nsPerOp"`
	AllocsPerOp int64   `json:"allocsPerOp"`
	BytesPerOp  int64   `json:"bytesPerOp"`
}

func micro(name string, f func(b *testing.B)) MicroResult {
	r := testing.Benchmark(f)
	return MicroResult{Name: name, NsPerOp: float64(r.T.Nanoseconds()) / float64(r.N), AllocsPerOp: r.AllocsPerOp(), BytesPerOp: r.AllocedBytesPerOp()}
}

// generatedRules makes n rules in the shape of a real policy, none of
// which matches the probe request, so Decide walks every candidate.
func generatedRules(n int) []rules.Rule {
	out := make([]rules.Rule, 0, n)
	for i := 0; len(out) < n; i++ {
		team := fmt.Sprintf("team-%d", i)
		out = append(out,
			rules.Rule{Name: team + "-delete", Match: rules.Match{Groups: []string{team}, Verbs: []string{"delete"}, Namespaces: []string{team + "-*"}}, Action: rules.ActionStepUp},
			rules.Rule{Name: team + "-exec", Match: rules.Match{Groups: []string{team}, Resources: []string{"pods/exec", "pods/attach"}, Namespaces: []string{team + "-prod"}}, Action: rules.ActionStepUp},
			rules.Rule{Name: team + "-secrets", Match: rules.Match{Resources: []string{"secrets"}, Namespaces: []string{team + "-prod"}, Verbs: []string{"get", "list"}}, Action: rules.ActionStepUp},
			rules.Rule{Name: team + "-nodes", Match: rules.Match{Groups: []string{team}, Resources: []string{"nodes"}, Verbs: []string{"update", "patch"}}, Action: rules.ActionDeny},
		)
	}
	return out[:n]
}

// micros measures rule decisions at 10, 200 and 1000 rules and a cached
// session check, in this process.
func micros() ([]MicroResult, error) {
	var out []MicroResult
	probe := &rules.Attributes{User: "bench", Groups: []string{"bench-readers", "devs"}, ResourceRequest: true,
		Verb: "get", Resource: "pods", Namespace: "bench", Name: "pod-7"}
	for _, n := range []int{10, 200, 1000} {
		set, err := rules.Compile(generatedRules(n), rules.ActionAllow)
		if err != nil {
			return nil, err
		}
		out = append(out, micro(fmt.Sprintf("rule decision, %d rules", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				set.Decide(probe)
			}
		}))
	}
	r, err := cachedSessionMicro()
	if err != nil {
		return nil, err
	}
	return append(out, r), nil
}

func cachedSessionMicro() (MicroResult, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stepgate-micro-")
	if err != nil {
		return MicroResult{}, err
	}
	defer os.RemoveAll(dir)
	store, err := session.OpenSQLite(ctx, filepath.Join(dir, "db"))
	if err != nil {
		return MicroResult{}, err
	}
	defer store.Close()
	hasher, _ := mfa.NewPasswordHasher(mfa.PasswordHasherOptions{Params: mfa.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	key, _ := mfa.NewKeyBytes()
	sealer, _ := mfa.NewSealer(key)
	m, err := session.New(session.Options{Store: store, Hasher: hasher, Sealer: sealer, MFARequiredForGroups: []string{"nobody"}})
	if err != nil {
		return MicroResult{}, err
	}
	if _, err := m.CreateAccount(ctx, session.NewAccount{Name: "bench", Password: benchPass}, "bench"); err != nil {
		return MicroResult{}, err
	}
	res, err := m.Login(ctx, session.LoginRequest{User: "bench", Password: benchPass})
	if err != nil {
		return MicroResult{}, err
	}
	if _, err := m.Authenticate(ctx, res.Token); err != nil {
		return MicroResult{}, err
	}
	// As in stepgate serve, Run keeps the cache and its clock going.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go m.Run(runCtx)
	return micro("cached session check", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := m.Authenticate(ctx, res.Token); err != nil {
				b.Fatal(err)
			}
		}
	}), nil
}
