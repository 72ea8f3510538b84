package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"stepgate.io/stepgate/config"
	"stepgate.io/stepgate/proxy"
	"stepgate.io/stepgate/rules"
	"stepgate.io/stepgate/session"
)

func runSession(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		return usageErr("usage: stepgate session list [--user NAME] | stepgate session revoke ID | --user NAME")
	}
	fs := newFlags(e, "session "+args[0], "session list [--user NAME] | session revoke (ID | --user NAME)",
		"Lists live sessions, or revokes one (or all of a user's). A revoked session is refused from its next\n"+
			"request on, and its open watch, exec, attach and port-forward streams close within a second.")
	user := fs.String("user", "", "only this user's sessions")
	cfg := configFlag(fs)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if args[0] == "list" {
		list, err := st.mgr.ListSessions(ctx, *user)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tSOURCE\tCREATED\tLAST SEEN\tEXPIRES\tAGENT")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.User, s.Source, s.CreatedAt.Local().Format(time.DateTime),
				s.LastSeenAt.Local().Format(time.DateTime), s.ExpiresAt.Local().Format(time.DateTime), s.UserAgent)
		}
		return tw.Flush()
	}
	switch {
	case len(pos) == 1 && *user == "":
		if err := st.mgr.RevokeSession(ctx, pos[0], actor(e)); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Revoked session %s.\n", pos[0])
	case len(pos) == 0 && *user != "":
		n, err := st.mgr.RevokeUserSessions(ctx, *user, actor(e))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Revoked %d session(s) of %s.\n", n, *user)
	default:
		return usageErr("session revoke takes a session ID or --user NAME")
	}
	return nil
}

func runToken(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "create" && args[0] != "list" && args[0] != "revoke") {
		return usageErr("usage: stepgate token create --name NAME --groups a,b --ttl 720h | token list | token revoke NAME")
	}
	fs := newFlags(e, "token "+args[0], "token create --name NAME [--groups a,b] [--ttl 720h] | token list | token revoke NAME",
		"Service tokens are for machines (CI/CD): no TOTP, subject to the rules like people, and denied by\n"+
			"step-up rules since a machine cannot step up. A token is printed once at creation; only its hash is kept.\n"+
			"It acts upstream as user "+session.ServiceTokenUser("NAME")+".")
	name := fs.String("name", "", "token name (create)")
	groups := fs.String("groups", "", "comma-separated groups (create)")
	ttl := fs.Duration("ttl", 30*24*time.Hour, "lifetime (create)")
	cfg := configFlag(fs)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "create":
		token, t, err := st.mgr.CreateServiceToken(ctx, *name, splitList(*groups), *ttl, actor(e))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Created token %s for %s (groups %v), expiring %s. It is shown only now:\n",
			t.Name, session.ServiceTokenUser(t.Name), t.Groups, t.ExpiresAt.Local().Format(time.DateTime))
		fmt.Fprintln(e.stdout, token)
	case "list":
		list, err := st.mgr.ListServiceTokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tUSER\tGROUPS\tCREATED\tEXPIRES\tSTATE")
		now := time.Now()
		for _, t := range list {
			state := "active"
			switch {
			case !t.RevokedAt.IsZero():
				state = "revoked " + t.RevokedAt.Local().Format(time.DateTime)
			case !now.Before(t.ExpiresAt):
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, session.ServiceTokenUser(t.Name), strings.Join(t.Groups, ","),
				t.CreatedAt.Local().Format(time.DateTime), t.ExpiresAt.Local().Format(time.DateTime), state)
		}
		return tw.Flush()
	case "revoke":
		if len(pos) != 1 {
			return usageErr("token revoke takes exactly one NAME")
		}
		if err := st.mgr.RevokeServiceToken(ctx, pos[0], actor(e)); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "Revoked token %s.\n", pos[0])
	}
	return nil
}

func runAudit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit", "audit [--user NAME] [--since 24h] [--config FILE]",
		"Prints authentication events kept in the store: sign-ins, locks, enrollment, step-up, admin actions.\n"+
			"Per-request decisions go to the JSON log (logger \"audit\").")
	user := fs.String("user", "", "only this user's events")
	since := fs.Duration("since", 0, "only events this recent (e.g. 24h)")
	limit := fs.Int("limit", 1000, "at most this many (the newest)")
	cfg := configFlag(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := adminStack(ctx, e, *cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	f := session.AuditFilter{User: *user, Limit: *limit}
	if *since > 0 {
		f.Since = time.Now().Add(-*since)
	}
	events, err := st.mgr.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tUSER\tOUTCOME\tSOURCE\tSESSION\tDETAIL")
	for _, ev := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Time.Local().Format(time.DateTime), ev.Type, ev.User, ev.Outcome,
			ev.Source, ev.SessionID, ev.Detail)
	}
	return tw.Flush()
}

func runRules(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "explain" && args[0] != "check") {
		return usageErr("usage: stepgate rules explain [flags] VERB RESOURCE[/NAME] [-n NS] | stepgate rules check FILE")
	}
	if args[0] == "check" {
		fs := newFlags(e, "rules check", "rules check FILE", "Validates a rules file (kind StepgateRules) or a whole configuration.")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageErr("rules check takes exactly one FILE")
		}
		rf, err := config.LoadRulesFile(pos[0])
		if err != nil {
			return err
		}
		if _, err := rules.Compile(rf.Rules, rf.DefaultAction); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: %d rules, default action %s: ok\n", pos[0], len(rf.Rules), defaultAction(rf.DefaultAction))
		return nil
	}
	return rulesExplain(ctx, e, args[1:])
}

func defaultAction(a rules.Action) rules.Action {
	if a == "" {
		return rules.ActionAllow
	}
	return a
}

func rulesExplain(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rules explain", "rules explain --user NAME [--groups a,b] [--rules FILE | --config FILE] (VERB RESOURCE[/NAME] [-n NS] | --method M --path P)",
		"Shows which rule matches a request and why the ones before it did not. The request is parsed by the\n"+
			"same code as the proxy, so what you see is what stepgate decides. VERB is a Kubernetes verb (get, list,\n"+
			"watch, create, update, patch, delete) or exec, attach, port-forward, logs. RESOURCE is resource[.group],\n"+
			"e.g. pods, deployments.apps, pods/web. Examples:\n"+
			"  stepgate rules explain --user alice --groups dev delete pods/web -n prod-eu\n"+
			"  stepgate rules explain --user alice exec pods/web -n default\n"+
			"  stepgate rules explain --user ci --machine --method DELETE --path /api/v1/namespaces/prod-eu/pods")
	user := fs.String("user", "", "who asks (required)")
	groups := fs.String("groups", "", "their groups")
	machine := fs.Bool("machine", false, "the request comes with a service token")
	ns := fs.String("n", "", "namespace")
	method := fs.String("method", "", "raw HTTP method (with --path)")
	path := fs.String("path", "", "raw request path, query included (with --method)")
	rulesFile := fs.String("rules", "", "rules file to use instead of the configuration's rules")
	cfg := configFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *user == "" {
		return usageErr("--user is required")
	}
	set, err := loadRuleSet(e, *rulesFile, *cfg)
	if err != nil {
		return err
	}
	m, target := *method, *path
	if target == "" {
		if len(pos) != 2 {
			return usageErr("give VERB and RESOURCE[/NAME], or --method and --path")
		}
		if m, target, err = kubectlRequest(pos[0], pos[1], *ns); err != nil {
			return usageErr("%v", err)
		}
	} else if m == "" {
		m = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, m, "https://stepgate.invalid"+target, nil)
	if err != nil {
		return usageErr("request: %v", err)
	}
	if strings.EqualFold(pos0(pos), "exec") || strings.EqualFold(pos0(pos), "attach") || strings.EqualFold(pos0(pos), "port-forward") {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
	}
	p := &session.Principal{User: *user, Groups: splitList(*groups), Machine: *machine}
	attrs, err := proxy.Attributes(req, p)
	if err != nil {
		return fmt.Errorf("stepgate would refuse this request before the rules: %w", err)
	}
	fmt.Fprintf(e.stdout, "request: %s %s\n", m, target)
	fmt.Fprint(e.stdout, set.Explain(&attrs).String())
	return nil
}

func pos0(pos []string) string {
	if len(pos) == 0 {
		return ""
	}
	return pos[0]
}

func loadRuleSet(e *env, rulesFile, cfgPath string) (*rules.Set, error) {
	if rulesFile != "" {
		rf, err := config.LoadRulesFile(rulesFile)
		if err != nil {
			return nil, err
		}
		return rules.Compile(rf.Rules, rf.DefaultAction)
	}
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return nil, err
	}
	return rules.Compile(cfg.Rules, cfg.DefaultAction)
}

// kubectlRequest turns "delete pods/web" with a namespace into the method
// and path kubectl would send.
func kubectlRequest(verb, resource, ns string) (string, string, error) {
	res, name, _ := strings.Cut(resource, "/")
	res, group, _ := strings.Cut(res, ".")
	if res == "" {
		return "", "", fmt.Errorf("resource %q is empty", resource)
	}
	base := "/api/v1"
	if group != "" {
		base = "/apis/" + group + "/v1"
	}
	if ns != "" {
		base += "/namespaces/" + ns
	}
	obj := base + "/" + res
	if name != "" {
		obj += "/" + name
	}
	needName := func() error {
		if name == "" {
			return fmt.Errorf("%s needs RESOURCE/NAME", verb)
		}
		return nil
	}
	switch verb {
	case "get":
		return http.MethodGet, obj, nil
	case "list":
		return http.MethodGet, base + "/" + res, nil
	case "watch":
		return http.MethodGet, base + "/" + res + "?watch=true", nil
	case "create":
		return http.MethodPost, base + "/" + res, nil
	case "update":
		return http.MethodPut, obj, needName()
	case "patch":
		return http.MethodPatch, obj, needName()
	case "delete":
		return http.MethodDelete, obj, nil
	case "deletecollection":
		return http.MethodDelete, base + "/" + res, nil
	case "exec", "attach":
		return http.MethodGet, obj + "/" + verb, needName()
	case "port-forward":
		return http.MethodGet, obj + "/portforward", needName()
	case "logs":
		return http.MethodGet, obj + "/log", needName()
	}
	return "", "", fmt.Errorf("unknown verb %q", verb)
}
