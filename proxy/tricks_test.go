package proxy

import (
	"testing"

	"stepgate.io/stepgate/rules"
)

// TestPathTricksCannotDodgeARule: every way of spelling "delete pods/web in
// prod-eu" either meets the step-up rule or is refused outright; none is
// forwarded without a code.
func TestPathTricksCannotDodgeARule(t *testing.T) {
	t.Parallel()
	f := newFixture(t, []rules.Rule{
		{Name: "prod-delete", Match: rules.Match{Verbs: []string{"delete"}, Namespaces: []string{"prod-*"}}, Action: rules.ActionStepUp},
		{Name: "pod-exec", Match: rules.Match{Resources: []string{"pods/exec"}}, Action: rules.ActionStepUp},
		// Only verb create: a GET read as "get" would slip past.
		{Name: "pod-connect", Match: rules.Match{Verbs: []string{"create"}, Resources: []string{"pods/attach", "pods/portforward"}}, Action: rules.ActionStepUp},
	})
	cases := []struct {
		name, method, path string
		want               int // 401 = the rule asked for a step-up; 400/405 = refused as unparseable
	}{
		{"plain", "DELETE", "/api/v1/namespaces/prod-eu/pods/web", 401},
		{"trailing slash", "DELETE", "/api/v1/namespaces/prod-eu/pods/web/", 401},
		{"dot-dot segment", "DELETE", "/api/v1/namespaces/prod-eu/pods/../pods/web", 400},
		{"dot segment", "DELETE", "/api/v1/namespaces/prod-eu/./pods/web", 400},
		{"encoded dot-dot", "DELETE", "/api/v1/namespaces/prod-eu/pods/%2e%2e/pods/web", 400},
		{"double slash", "DELETE", "/api/v1/namespaces//prod-eu/pods/web", 400},
		{"encoded slash", "DELETE", "/api/v1/namespaces/prod-eu%2Fpods/web", 400},
		{"encoded percent", "DELETE", "/api/v1/namespaces/prod-eu/pods/we%252Fb", 400},
		{"backslash", "DELETE", "/api/v1/namespaces/prod-eu/pods\\web", 400},
		{"lower-case verb", "delete", "/api/v1/namespaces/prod-eu/pods/web", 405},
		{"mixed-case verb", "DeLeTe", "/api/v1/namespaces/prod-eu/pods/web", 405},
		{"deletecollection", "DELETE", "/api/v1/namespaces/prod-eu/pods", 401},
		{"other prod namespace", "DELETE", "/api/v1/namespaces/prod-us/pods/web", 401},
		{"delete the namespace itself", "DELETE", "/api/v1/namespaces/prod-eu", 401},
		{"named group resource", "DELETE", "/apis/apps/v1/namespaces/prod-eu/deployments/web", 401},
		{"exec as POST (SPDY)", "POST", "/api/v1/namespaces/default/pods/web/exec?command=sh", 401},
		{"exec as GET (WebSocket)", "GET", "/api/v1/namespaces/default/pods/web/exec?command=sh", 401},
		{"exec with trailing slash", "GET", "/api/v1/namespaces/default/pods/web/exec/", 401},
		{"attach as POST (SPDY)", "POST", "/api/v1/namespaces/default/pods/web/attach?stdout=true", 401},
		{"attach as GET (WebSocket)", "GET", "/api/v1/namespaces/default/pods/web/attach?stdout=true", 401},
		{"portforward as POST (SPDY)", "POST", "/api/v1/namespaces/default/pods/web/portforward?ports=8080", 401},
		{"portforward as GET (WebSocket)", "GET", "/api/v1/namespaces/default/pods/web/portforward?ports=8080", 401},
		{"not prod: allowed", "DELETE", "/api/v1/namespaces/dev/pods/web", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, st := f.do(t, tc.method, tc.path, bearer(aliceToken), "")
			if resp.StatusCode != tc.want {
				msg := ""
				if st != nil {
					msg = st.Message
				}
				t.Errorf("%s %s: %d (%s), want %d", tc.method, tc.path, resp.StatusCode, msg, tc.want)
			}
		})
	}
	if n := f.up.count(); n != 1 {
		t.Errorf("%d requests reached the API server; only the non-prod delete should have", n)
	}
	_, challenges := f.sessions.calls()
	for _, c := range challenges {
		if c.Req.Subresource != "" && c.Req.Verb != "create" {
			t.Errorf("%s on pods/%s was bound as verb %q, want create", c.Rule, c.Req.Subresource, c.Req.Verb)
		}
	}
}
