package web

import "time"

// API paths, relative to the server URL.
const (
	PathLogin         = "/stepgate/v1/login"
	PathSession       = "/stepgate/v1/session"
	PathStepUp        = "/stepgate/v1/step-up"
	PathTOTP          = "/stepgate/v1/mfa/totp"
	PathTOTPConfirm   = "/stepgate/v1/mfa/totp/confirm"
	PathTOTPDisable   = "/stepgate/v1/mfa/totp/disable"
	PathRecoveryCodes = "/stepgate/v1/mfa/recovery-codes"
	PathAccounts      = "/stepgate/v1/accounts"
	PathSessions      = "/stepgate/v1/sessions"
	PathAudit         = "/stepgate/v1/audit"
)

// LoginRequest is the body of POST /stepgate/v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Code is a TOTP code or a recovery code; empty for an account that
	// has not enrolled yet.
	Code string `json:"code,omitempty"`
}

// SessionInfo answers login (with Token) and GET /stepgate/v1/session.
type SessionInfo struct {
	// Token is set only when a token is handed out (login, enrollment,
	// step-up); it replaces any earlier token of the session.
	Token              string         `json:"token,omitempty"`
	ExpiresAt          time.Time      `json:"expiresAt"`
	SessionID          string         `json:"sessionID"`
	User               string         `json:"user"`
	UID                string         `json:"uid"`
	Groups             []string       `json:"groups"`
	Admin              bool           `json:"admin,omitempty"`
	Machine            bool           `json:"machine,omitempty"`
	EnrollmentRequired bool           `json:"enrollmentRequired,omitempty"`
	MFAAt              *time.Time     `json:"mfaAt,omitempty"`
	ElevatedUntil      *time.Time     `json:"elevatedUntil,omitempty"`
	PendingStepUp      *PendingStepUp `json:"pendingStepUp,omitempty"`
	// RecoveryCodesLeft is set after a sign-in with a recovery code.
	RecoveryCodesLeft *int `json:"recoveryCodesLeft,omitempty"`
}

// PendingStepUp is a request waiting for a fresh code.
type PendingStepUp struct {
	ID          string    `json:"id"`
	Rule        string    `json:"rule"`
	Description string    `json:"description"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// StepUpRequest is the body of POST /stepgate/v1/step-up.
type StepUpRequest struct {
	Code string `json:"code"`
	// ChallengeID names the pending step-up being answered (optional).
	ChallengeID string `json:"challengeID,omitempty"`
	// ElevateFor opens an elevation window, as a Go duration ("5m").
	ElevateFor string `json:"elevateFor,omitempty"`
}

// StepUpResponse answers a step-up.
type StepUpResponse struct {
	Token            string     `json:"token"`
	ExpiresAt        time.Time  `json:"expiresAt"`
	Granted          string     `json:"granted,omitempty"`
	ElevatedUntil    *time.Time `json:"elevatedUntil,omitempty"`
	UsedRecoveryCode bool       `json:"usedRecoveryCode,omitempty"`
}

// EnrollResponse starts TOTP enrollment.
type EnrollResponse struct {
	Secret     string `json:"secret"`
	OTPAuthURL string `json:"otpauthURL"`
	QRPNG      []byte `json:"qrPNG"`
}

// CodeRequest carries one code (confirm enrollment, disable TOTP, new
// recovery codes).
type CodeRequest struct {
	Code string `json:"code"`
}

// ConfirmResponse finishes enrollment; RecoveryCodes are shown once.
type ConfirmResponse struct {
	Token         string    `json:"token"`
	ExpiresAt     time.Time `json:"expiresAt"`
	RecoveryCodes []string  `json:"recoveryCodes"`
}

// RecoveryCodesResponse carries new recovery codes, shown once.
type RecoveryCodesResponse struct {
	RecoveryCodes []string `json:"recoveryCodes"`
}

// List wraps list answers.
type List[T any] struct {
	Items []T `json:"items"`
}
