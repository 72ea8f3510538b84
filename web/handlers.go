package web

import (
	"context"
	"net/http"
	"time"

	"stepgate.io/stepgate/internal/apistatus"
	"stepgate.io/stepgate/mfa"
	"stepgate.io/stepgate/session"
)

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if !a.decode(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.loginTO)
	defer cancel()
	res, err := a.s.Login(ctx, session.LoginRequest{
		User: req.Username, Password: req.Password, Code: req.Code, Source: source(r), UserAgent: r.UserAgent(),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	info := sessionInfo(res.Principal)
	info.Token, info.EnrollmentRequired = res.Token, res.EnrollmentRequired
	if res.UsedRecoveryCode {
		left := res.RecoveryCodesLeft
		info.RecoveryCodesLeft = &left
	}
	writeJSON(w, http.StatusOK, info)
}

func sessionInfo(p *session.Principal) *SessionInfo {
	info := &SessionInfo{
		ExpiresAt: p.ExpiresAt, SessionID: p.SessionID, User: p.User, UID: p.UID, Groups: p.Groups,
		Admin: p.Admin, Machine: p.Machine, EnrollmentRequired: p.EnrollmentOnly,
	}
	if info.Groups == nil {
		info.Groups = []string{}
	}
	if !p.MFAAt.IsZero() {
		t := p.MFAAt
		info.MFAAt = &t
	}
	if !p.ElevatedUntil.IsZero() {
		t := p.ElevatedUntil
		info.ElevatedUntil = &t
	}
	return info
}

func (a *API) getSession(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	info := sessionInfo(p)
	if !p.Machine && !p.EnrollmentOnly {
		c, err := a.s.PendingChallenge(r.Context(), p)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if c != nil {
			info.PendingStepUp = &PendingStepUp{ID: c.ID, Rule: c.Rule, Description: c.Description, ExpiresAt: c.ExpiresAt}
		}
	}
	writeJSON(w, http.StatusOK, info)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	if err := a.s.Logout(r.Context(), p); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) stepUp(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	var req StepUpRequest
	if !a.decode(w, r, &req) {
		return
	}
	var elevate time.Duration
	if req.ElevateFor != "" {
		d, err := time.ParseDuration(req.ElevateFor)
		if err != nil || d <= 0 {
			apistatus.Error(w, http.StatusUnprocessableEntity, "elevateFor must be a positive duration such as 5m")
			return
		}
		elevate = d
	}
	res, err := a.s.StepUp(r.Context(), p, session.StepUpRequest{
		Code: req.Code, ChallengeID: req.ChallengeID, Elevate: elevate, Source: source(r),
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := StepUpResponse{Token: res.Token, ExpiresAt: p.ExpiresAt, UsedRecoveryCode: res.UsedRecoveryCode}
	if res.Challenge != nil {
		out.Granted = res.Challenge.Description
	}
	if !res.ElevatedUntil.IsZero() {
		t := res.ElevatedUntil
		out.ElevatedUntil = &t
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) beginEnrollment(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	e, err := a.s.BeginEnrollment(r.Context(), p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	png, err := mfa.QRPNG(e.URL, 256)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, EnrollResponse{Secret: e.Secret, OTPAuthURL: e.URL, QRPNG: png})
}

func (a *API) confirmEnrollment(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	var req CodeRequest
	if !a.decode(w, r, &req) {
		return
	}
	res, err := a.s.ConfirmEnrollment(r.Context(), p, req.Code, source(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ConfirmResponse{Token: res.Token, ExpiresAt: p.ExpiresAt, RecoveryCodes: res.RecoveryCodes})
}

func (a *API) disableTOTP(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	var req CodeRequest
	if !a.decode(w, r, &req) {
		return
	}
	if err := a.s.DisableTOTP(r.Context(), p, req.Code, source(r)); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request, p *session.Principal) {
	var req CodeRequest
	if !a.decode(w, r, &req) {
		return
	}
	codes, err := a.s.RegenerateRecoveryCodes(r.Context(), p, req.Code, source(r))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, RecoveryCodesResponse{RecoveryCodes: codes})
}
