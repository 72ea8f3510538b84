package web

import (
	"net/http"
	"time"

	"stepgate.io/stepgate/internal/apistatus"
	"stepgate.io/stepgate/session"
)

func (a *API) accounts(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	accts, err := a.s.Accounts(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if accts == nil {
		accts = []session.AccountStatus{}
	}
	writeJSON(w, http.StatusOK, List[session.AccountStatus]{Items: accts})
}

// accountAction serves POST /stepgate/v1/accounts/{name}/{action} with
// action one of unlock, reset-mfa, disable, enable.
func (a *API) accountAction(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	name, action := r.PathValue("name"), r.PathValue("action")
	var err error
	switch action {
	case "unlock":
		err = a.s.Unlock(r.Context(), name, p.User)
	case "reset-mfa":
		err = a.s.ResetMFA(r.Context(), name, p.User)
	case "disable":
		err = a.s.SetDisabled(r.Context(), name, true, p.User)
	case "enable":
		err = a.s.SetDisabled(r.Context(), name, false, p.User)
	default:
		apistatus.Error(w, http.StatusNotFound, "unknown account action "+action+"; want unlock, reset-mfa, disable or enable")
		return
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessions lists sessions: an admin sees everyone's (or ?user=), anyone
// else only their own.
func (a *API) sessions(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	user := r.URL.Query().Get("user")
	if !p.Admin {
		if p.Machine || (user != "" && user != p.User) {
			apistatus.Error(w, http.StatusForbidden, "only admins may list other people's sessions")
			return
		}
		user = p.User
	}
	list, err := a.s.ListSessions(r.Context(), user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if list == nil {
		list = []session.SessionInfo{}
	}
	writeJSON(w, http.StatusOK, List[session.SessionInfo]{Items: list})
}

// revokeSession ends a session: an admin any, anyone else their own.
func (a *API) revokeSession(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	id := r.PathValue("id")
	if !p.Admin {
		mine, err := a.s.ListSessions(r.Context(), p.User)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		owned := false
		for _, s := range mine {
			owned = owned || s.ID == id
		}
		if !owned || p.Machine {
			apistatus.Error(w, http.StatusForbidden, "only admins may end other people's sessions")
			return
		}
	}
	if err := a.s.RevokeSession(r.Context(), id, p.User); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) audit(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	q := r.URL.Query()
	f := session.AuditFilter{User: q.Get("user"), Limit: 1000}
	if s := q.Get("since"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			apistatus.Error(w, http.StatusBadRequest, "since must be a positive duration such as 24h")
			return
		}
		f.Since = a.now().Add(-d)
	}
	events, err := a.s.ListAudit(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if events == nil {
		events = []session.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, List[session.AuditEvent]{Items: events})
}
