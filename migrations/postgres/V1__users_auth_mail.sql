-- PostgreSQL twin of migrations/sqlite/V1__users_auth_mail.sql (keep the two in step).
-- Users, sessions (refresh-token families), one-time tokens and the mail outbox.
-- Conventions: ids are UUIDv7 text, times are unix milliseconds (UTC) in BIGINT, booleans are
-- BIGINT 0/1 (the app binds i64 everywhere).

CREATE TABLE users (
    id              TEXT    PRIMARY KEY,
    email           TEXT    NOT NULL,                 -- normalised: trimmed, lower case
    password_hash   TEXT    NOT NULL,                 -- argon2id PHC string
    full_name       TEXT    NOT NULL,
    phone           TEXT,
    role            TEXT    NOT NULL DEFAULT 'customer'
                    CHECK (role IN ('customer', 'merchant', 'hub_staff', 'admin')),
    is_active       BIGINT  NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    email_verified  BIGINT  NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    last_login_at   BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE UNIQUE INDEX users_email_uq ON users (email);
CREATE INDEX users_role_created_idx ON users (role, created_at);
CREATE INDEX users_created_idx ON users (created_at);

-- A session is one login: a family of refresh tokens that replace each other on use.
CREATE TABLE sessions (
    id              TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL,
    last_used_at    BIGINT  NOT NULL,
    revoked_at      BIGINT,
    revoke_reason   TEXT,
    ip              TEXT,
    user_agent      TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id, revoked_at);

-- Refresh tokens are stored as SHA-256 hashes. A token is used once: refreshing marks it
-- used and issues its successor; presenting a used token again revokes the whole session.
CREATE TABLE refresh_tokens (
    token_hash      TEXT    PRIMARY KEY,
    session_id      TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    used_at         BIGINT
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Single-use tokens mailed to users (password reset, email verification), stored hashed.
CREATE TABLE one_time_tokens (
    token_hash      TEXT    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL CHECK (purpose IN ('reset_password', 'verify_email')),
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    used_at         BIGINT
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose, used_at);
CREATE INDEX one_time_tokens_expires_idx ON one_time_tokens (expires_at);

-- Transactional outbox: a message is written in the same transaction as the change that
-- causes it and delivered afterwards by the mail job.
CREATE TABLE mail_outbox (
    id              TEXT    PRIMARY KEY,
    kind            TEXT    NOT NULL,
    to_addr         TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    body_text       TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'logged', 'failed')),
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    locked_until    BIGINT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_to_idx ON mail_outbox (to_addr, created_at);
