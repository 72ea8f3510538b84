package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"

	"stepgate.io/stepgate/web"
)

// runCredential is the kubectl exec credential plugin. client-go runs it
// before its first request and again after any 401; each run checks the
// cached token with stepgate, answers a pending step-up at the prompt, or
// signs in again, then prints an ExecCredential.
func runCredential(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "credential", "credential --server URL --user NAME",
		"The kubectl exec credential plugin (client.authentication.k8s.io/v1). Generated kubeconfigs run it;\n"+
			"you do not need to run it by hand. Prompts go to stderr; the credential goes to stdout.")
	tf := addTargetFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	info, err := execInfo(e)
	if err != nil {
		return err
	}
	if info.Spec.Cluster != nil && *tf.server == "" {
		*tf.server = info.Spec.Cluster.Server
	}
	t, err := tf.resolve(e)
	if err != nil {
		return err
	}
	if info.Spec.Cluster != nil && len(t.caPEM) == 0 {
		t.caPEM = info.Spec.Cluster.CertificateAuthorityData
	}
	p := &prompter{in: e.stdin, out: e.stderr}
	interactive := info.Spec.Interactive && p.interactive()
	token, expires, err := credential(ctx, e, t, p, interactive)
	if err != nil {
		return err
	}
	return printExecCredential(e, token, expires)
}

// execInfo reads KUBERNETES_EXEC_INFO; without it (a run by hand) the
// plugin is interactive if stdin is a terminal.
func execInfo(e *env) (*clientauthv1.ExecCredential, error) {
	var info clientauthv1.ExecCredential
	raw := e.getenv("KUBERNETES_EXEC_INFO")
	if raw == "" {
		info.Spec.Interactive = true
		return &info, nil
	}
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return nil, fmt.Errorf("KUBERNETES_EXEC_INFO is not an ExecCredential: %w", err)
	}
	if info.APIVersion != clientauthv1.SchemeGroupVersion.String() {
		return nil, fmt.Errorf("KUBERNETES_EXEC_INFO has apiVersion %q; this plugin speaks %s", info.APIVersion, clientauthv1.SchemeGroupVersion)
	}
	return &info, nil
}

func credential(ctx context.Context, e *env, t *target, p *prompter, interactive bool) (string, time.Time, error) {
	c, err := newClient(t)
	if err != nil {
		return "", time.Time{}, err
	}
	if cached := loadCached(e, t, time.Now()); cached != nil {
		info, err := c.WithToken(cached.Token).Session(ctx)
		switch {
		case err == nil && info.PendingStepUp != nil:
			token := answerStepUp(ctx, e, t, c.WithToken(cached.Token), p, info, interactive)
			return token, info.ExpiresAt, nil
		case err == nil:
			return cached.Token, info.ExpiresAt, nil
		case web.IsStatus(err, http.StatusUnauthorized):
			dropCached(e, t) // expired or revoked: sign in again below
		default:
			// stepgate unreachable: hand over the token and let kubectl say
			// what is wrong with the connection.
			return cached.Token, cached.ExpiresAt, nil
		}
	}
	if !interactive {
		return "", time.Time{}, fmt.Errorf("not signed in to %s as %s and this kubectl run cannot prompt; run: stepgate login --server %s --user %s",
			t.server, t.user, t.server, t.user)
	}
	token, err := signIn(ctx, e, t, p)
	if err != nil {
		return "", time.Time{}, err
	}
	info, err := c.WithToken(token).Session(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	return token, info.ExpiresAt, nil
}

// answerStepUp asks for a fresh code for the pending step-up and returns
// the session's token afterwards (a new one if the step-up succeeded).
// Nothing here fails the plugin: kubectl still prints stepgate's message.
func answerStepUp(ctx context.Context, e *env, t *target, c *web.Client, p *prompter, info *web.SessionInfo, interactive bool) string {
	ps := info.PendingStepUp
	if !interactive {
		fmt.Fprintf(e.stderr, "stepgate: %s needs a fresh one-time code; run `stepgate elevate` in a terminal, then run the command again\n", ps.Description)
		return c.Token
	}
	fmt.Fprintf(p.out, "stepgate: %s needs a fresh one-time code (rule %s).\n", ps.Description, ps.Rule)
	for attempt := 1; attempt <= 3; attempt++ {
		code, err := p.line("One-time code (Enter to skip): ")
		if err != nil || code == "" {
			return c.Token
		}
		res, err := c.StepUp(ctx, web.StepUpRequest{Code: code, ChallengeID: ps.ID})
		if err == nil {
			if err := saveCached(e, t, res.Token, info.ExpiresAt); err != nil {
				fmt.Fprintln(p.out, "stepgate: warning:", err)
			}
			fmt.Fprintf(p.out, "stepgate: code accepted for %s; run the command again.\n", ps.Description)
			return res.Token
		}
		fmt.Fprintln(p.out, "stepgate:", err)
		if !web.IsStatus(err, http.StatusUnauthorized) && !web.IsStatus(err, http.StatusUnprocessableEntity) {
			break
		}
	}
	return c.Token
}

func printExecCredential(e *env, token string, expires time.Time) error {
	cred := clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: clientauthv1.SchemeGroupVersion.String(), Kind: "ExecCredential"},
		Status:   &clientauthv1.ExecCredentialStatus{Token: token},
	}
	if !expires.IsZero() {
		ts := metav1.NewTime(expires)
		cred.Status.ExpirationTimestamp = &ts
	}
	return json.NewEncoder(e.stdout).Encode(cred)
}
