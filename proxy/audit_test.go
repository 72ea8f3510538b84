package proxy

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"stepgate.io/stepgate/rules"
)

func TestAuditLogLine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, []rules.Rule{
		{Name: "prod-delete", Match: rules.Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*"}}, Action: rules.ActionStepUp},
		{Name: "no-secrets", Match: rules.Match{Resources: []string{"secrets"}}, Action: rules.ActionDeny},
	})
	const cookie = "stepgate_session=cookie-secret-value"
	alicesUser := map[string]any{"username": "alice", "uid": "u-1", "groups": []any{"dev", "ops"}}
	cases := []struct {
		name, method, path, token string
		want                      map[string]any
	}{
		{"allowed", http.MethodGet, "/api/v1/namespaces/default/pods/web", aliceToken, map[string]any{
			"user": alicesUser, "session": "s-1", "verb": "get", "decision": "allow", "code": int64(200), "method": "GET",
			"objectRef": map[string]any{"resource": "pods", "namespace": "default", "name": "web"},
		}},
		{"step-up", http.MethodDelete, "/api/v1/namespaces/prod-eu/pods/web", aliceToken, map[string]any{
			"user": alicesUser, "session": "s-1", "verb": "delete", "decision": "stepUp.required", "rule": "prod-delete", "code": int64(401), "method": "DELETE",
			"objectRef": map[string]any{"resource": "pods", "namespace": "prod-eu", "name": "web"},
		}},
		{"group and subresource", http.MethodGet, "/apis/apps/v1/namespaces/kube-system/deployments/dns/scale", aliceToken, map[string]any{
			"user": alicesUser, "session": "s-1", "verb": "get", "decision": "allow", "code": int64(200), "method": "GET",
			"objectRef": map[string]any{"resource": "deployments", "subresource": "scale", "apiGroup": "apps", "namespace": "kube-system", "name": "dns"},
		}},
		{"deny rule", http.MethodGet, "/api/v1/namespaces/kube-system/secrets/token", aliceToken, map[string]any{
			"user": alicesUser, "session": "s-1", "verb": "get", "decision": "deny", "rule": "no-secrets", "code": int64(403), "method": "GET",
			"objectRef": map[string]any{"resource": "secrets", "namespace": "kube-system", "name": "token"},
		}},
		{"unauthenticated", http.MethodGet, "/api/v1/namespaces", "sgs_unknown-session-token", map[string]any{
			"decision": "unauthenticated", "code": int64(401), "method": "GET",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hdr := bearer(tc.token)
			hdr["Cookie"] = []string{cookie}
			f.do(t, tc.method, tc.path, hdr, "")
			f.waitServed(t, tc.path)
			var line map[string]any
			for _, e := range f.logs.FilterMessage("request").All() {
				if m := e.ContextMap(); m["requestURI"] == tc.path {
					line = m
				}
			}
			if line == nil {
				t.Fatalf("no audit line for %s", tc.path)
			}
			got := map[string]any{}
			for _, k := range []string{"user", "session", "verb", "decision", "rule", "code", "method", "objectRef"} {
				if v, ok := line[k]; ok {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("audit line (-want +got):\n%s", diff)
			}
			if line["auditID"] == "" || line["stage"] != "ResponseComplete" {
				t.Errorf("audit line without id or stage: %v", line)
			}
		})
	}
	// No credential appears in any field of any line, audit or not.
	for _, e := range f.logs.All() {
		data, err := json.Marshal(e.ContextMap())
		if err != nil {
			t.Fatal(err)
		}
		text := e.Message + " " + string(data)
		for _, secret := range []string{aliceToken, "sgs_unknown-session-token", "cookie-secret-value", "Bearer", "Authorization"} {
			if strings.Contains(text, secret) {
				t.Errorf("log line %q holds %q", text, secret)
			}
		}
	}
}
