-- Times are Unix nanoseconds; 0 means "not set".
CREATE TABLE accounts (
	id              TEXT PRIMARY KEY,
	name            TEXT NOT NULL UNIQUE,
	groups_json     TEXT NOT NULL DEFAULT '[]',
	admin           INTEGER NOT NULL DEFAULT 0,
	disabled        INTEGER NOT NULL DEFAULT 0,
	password_hash   TEXT NOT NULL,
	totp_secret     TEXT NOT NULL DEFAULT '',
	totp_pending    TEXT NOT NULL DEFAULT '',
	totp_last_step  INTEGER NOT NULL DEFAULT 0,
	failed_attempts INTEGER NOT NULL DEFAULT 0,
	locked_at       INTEGER NOT NULL DEFAULT 0,
	locked_until    INTEGER NOT NULL DEFAULT 0,
	last_login_at   INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	hash       TEXT NOT NULL,
	used_at    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (account_id, hash)
);

CREATE TABLE sessions (
	id              TEXT PRIMARY KEY,
	account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	token_hash      TEXT NOT NULL UNIQUE,
	enrollment_only INTEGER NOT NULL DEFAULT 0,
	source          TEXT NOT NULL DEFAULT '',
	user_agent      TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	last_seen_at    INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	mfa_at          INTEGER NOT NULL DEFAULT 0,
	elevated_at     INTEGER NOT NULL DEFAULT 0,
	elevated_until  INTEGER NOT NULL DEFAULT 0,
	revoked_at      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_account ON sessions(account_id);

CREATE TABLE service_tokens (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	groups_json TEXT NOT NULL DEFAULT '[]',
	token_hash  TEXT NOT NULL UNIQUE,
	created_by  TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	revoked_at  INTEGER NOT NULL DEFAULT 0
);
-- A name is unique among live tokens; revoked ones stay listed.
CREATE UNIQUE INDEX service_tokens_live_name ON service_tokens(name) WHERE revoked_at = 0;

CREATE TABLE challenges (
	session_id  TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
	id          TEXT NOT NULL,
	rule        TEXT NOT NULL,
	max_age     INTEGER NOT NULL DEFAULT 0,
	request     TEXT NOT NULL,
	description TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL
);

CREATE TABLE grants (
	id         TEXT PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
	rule       TEXT NOT NULL,
	is_window  INTEGER NOT NULL DEFAULT 0,
	request    TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX grants_session_rule ON grants(session_id, rule);

CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	at         INTEGER NOT NULL,
	type       TEXT NOT NULL,
	user       TEXT NOT NULL DEFAULT '',
	session_id TEXT NOT NULL DEFAULT '',
	source     TEXT NOT NULL DEFAULT '',
	outcome    TEXT NOT NULL,
	detail     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_user_at ON audit_events(user, at);

CREATE TABLE changes (
	seq  INTEGER PRIMARY KEY AUTOINCREMENT,
	kind TEXT NOT NULL,
	ref  TEXT NOT NULL,
	at   INTEGER NOT NULL
);
