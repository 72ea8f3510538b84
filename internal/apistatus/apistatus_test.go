package apistatus

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestErrorFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, accept, wantType string
	}{
		{"kubectl resource request", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", "application/json"},
		{"no accept", "", "application/json"},
		{"aggregated discovery", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json", "text/plain; charset=utf-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api", nil)
			if tc.accept != "" {
				r.Header.Set("Accept", tc.accept)
			}
			w := httptest.NewRecorder()
			ErrorFor(w, r, http.StatusForbidden, "stepgate says no")
			if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != tc.wantType {
				t.Fatalf("code %d type %q", w.Code, w.Header().Get("Content-Type"))
			}
			if tc.wantType == "application/json" {
				var st metav1.Status
				if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || st.Kind != "Status" || st.Message != "stepgate says no" ||
					st.Reason != metav1.StatusReasonForbidden || st.Code != 403 {
					t.Errorf("status body %q: %v", w.Body.String(), err)
				}
			} else if w.Body.String() != "stepgate says no\n" {
				t.Errorf("text body %q", w.Body.String())
			}
		})
	}
}
