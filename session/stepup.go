package session

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxElevation caps how long one `stepgate elevate` can open a window.
const MaxElevation = 12 * time.Hour

// Challenge records that p's request needs a step-up under rule and
// returns the pending challenge, which replaces any earlier one.
func (m *Manager) Challenge(ctx context.Context, p *Principal, rule string, maxAge time.Duration, req Request, description string) (*Challenge, error) {
	now := m.now()
	c := &Challenge{
		ID: newID("c-"), SessionID: p.SessionID, Rule: rule, MaxAge: maxAge, Request: req,
		Description: description, CreatedAt: now, ExpiresAt: now.Add(m.chTTL),
	}
	if err := m.store.PutChallenge(ctx, c); err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventStepUpChallenge, User: p.User, SessionID: p.SessionID, Outcome: OutcomeSuccess,
		Detail: fmt.Sprintf("rule %s: %s", rule, description)})
	return c, nil
}

// PendingChallenge returns the session's unanswered, unexpired challenge,
// or nil.
func (m *Manager) PendingChallenge(ctx context.Context, p *Principal) (*Challenge, error) {
	c, err := m.store.GetChallenge(ctx, p.SessionID)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !m.now().Before(c.ExpiresAt) {
		return nil, nil
	}
	return c, nil
}

// StepUpRequest is a code offered to answer a challenge or to elevate.
type StepUpRequest struct {
	Code string
	// ChallengeID, when set, must name the pending challenge, so a code is
	// never spent on a different request than the one the person saw.
	ChallengeID string
	// Elevate, when positive, opens a window of that length in which rules
	// with a maxAge pass (each capped by its own maxAge).
	Elevate time.Duration
	Source  string
}

// StepUpResult says what a step-up granted. Token replaces the session's
// old token, which stops working.
type StepUpResult struct {
	Token            string
	Challenge        *Challenge // the challenge answered, if any
	ElevatedUntil    time.Time
	UsedRecoveryCode bool
}

// StepUp checks a fresh code and turns the pending challenge into a grant
// bound to its exact request (single-use, ChallengeTTL), or, when the rule
// has a maxAge, into a window for that rule; with Elevate it also opens an
// elevation window. Failed codes count toward the lockout.
func (m *Manager) StepUp(ctx context.Context, p *Principal, req StepUpRequest) (*StepUpResult, error) {
	if p.Machine {
		return nil, ErrMachine
	}
	if p.EnrollmentOnly {
		return nil, ErrEnrollmentRequired
	}
	if req.Elevate > MaxElevation {
		return nil, fmt.Errorf("%w: elevation is limited to %s", ErrInvalidInput, MaxElevation)
	}
	ch, err := m.PendingChallenge(ctx, p)
	if err != nil {
		return nil, err
	}
	if ch != nil && req.ChallengeID != "" && ch.ID != req.ChallengeID {
		ch = nil // answered or replaced meanwhile
	}
	if ch == nil && (req.ChallengeID != "" || req.Elevate <= 0) {
		return nil, ErrNoChallenge
	}
	a, err := m.personalAccount(ctx, p)
	if err != nil {
		return nil, err
	}
	subject := "elevate for " + req.Elevate.String()
	if ch != nil {
		subject = "rule " + ch.Rule
	}
	fail := AuditEvent{Type: EventStepUpFail, User: p.User, SessionID: p.SessionID, Source: req.Source, Outcome: OutcomeFailure, Detail: subject}
	use := AuditEvent{Type: EventRecoveryUse, SessionID: p.SessionID, Source: req.Source, Outcome: OutcomeSuccess, Detail: "at step-up: " + subject}
	att, err := m.verifyCurrentCode(ctx, a, req.Code, true, fail, use)
	if errors.Is(err, ErrNotEnrolled) {
		fail.Detail += ": two-factor authentication is not set up"
		m.audit(ctx, fail)
	}
	if err != nil {
		return nil, err
	}
	now := m.now()
	res := &StepUpResult{Challenge: ch, UsedRecoveryCode: att.recovery}
	if ch != nil {
		if err := m.grantChallenge(ctx, ch, p.User, req.Source, now); err != nil {
			return nil, err
		}
	}
	token, r, err := m.rotate(ctx, p.SessionID, func(r *SessionRecord) {
		r.MFAAt = now
		if req.Elevate > 0 {
			r.ElevatedAt, r.ElevatedUntil = now, now.Add(req.Elevate)
		}
	})
	if err != nil {
		return nil, err
	}
	res.Token, res.ElevatedUntil = token, r.ElevatedUntil
	if req.Elevate > 0 {
		m.audit(ctx, AuditEvent{Type: EventElevate, User: p.User, SessionID: p.SessionID, Source: req.Source, Outcome: OutcomeSuccess,
			Detail: "for " + req.Elevate.String()})
	}
	return res, nil
}

func (m *Manager) grantChallenge(ctx context.Context, ch *Challenge, user, source string, now time.Time) error {
	g := &Grant{ID: newID("g-"), SessionID: ch.SessionID, Rule: ch.Rule, Request: ch.Request, CreatedAt: now, ExpiresAt: now.Add(m.chTTL)}
	detail := fmt.Sprintf("rule %s: %s (once, for %s)", ch.Rule, ch.Description, m.chTTL)
	if ch.MaxAge > 0 {
		g.Window, g.Request, g.ExpiresAt = true, Request{}, now.Add(ch.MaxAge)
		detail = fmt.Sprintf("rule %s: every matching request for %s", ch.Rule, ch.MaxAge)
	}
	if err := m.store.CreateGrant(ctx, g); err != nil {
		return err
	}
	if err := m.store.DeleteChallenge(ctx, ch.SessionID); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventStepUpGrant, User: user, SessionID: ch.SessionID, Source: source, Outcome: OutcomeSuccess, Detail: detail})
	return nil
}

// StepUpSatisfied reports whether p may pass the step-up rule for req now:
// through an elevation window or a rule window (only when maxAge > 0, and
// no older than maxAge as the rule has it now, whatever it was when the
// window opened), or by spending a single-use grant for exactly req.
func (m *Manager) StepUpSatisfied(ctx context.Context, p *Principal, rule string, maxAge time.Duration, req Request) (bool, error) {
	if p.Machine || p.EnrollmentOnly {
		return false, nil
	}
	now := m.now()
	if maxAge > 0 {
		if !p.ElevatedAt.IsZero() && now.Before(p.ElevatedUntil) && now.Before(p.ElevatedAt.Add(maxAge)) {
			return true, nil
		}
		open, err := m.store.WindowOpen(ctx, p.SessionID, rule, maxAge, now)
		if err != nil || open {
			return open, err
		}
	}
	return m.store.ConsumeGrant(ctx, p.SessionID, rule, req, now)
}
