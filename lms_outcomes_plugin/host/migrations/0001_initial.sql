-- The embedded host's tables: accounts (a tree), courses, users, hashed API tokens and the three
-- ways a user holds outcome permissions (account admin, course teacher, a single grant).
-- Timestamps are ISO 8601 text in UTC ("2024-05-01T12:00:00Z"), as Canvas's JSON shows them.

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    parent_account_id INTEGER REFERENCES accounts (id),
    -- A root account points at itself, so a context's root is always one column away. Deferred:
    -- a new root account's row is inserted first and then pointed at its own id.
    root_account_id INTEGER NOT NULL REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED,
    default_locale TEXT NOT NULL DEFAULT 'en',
    uuid TEXT NOT NULL UNIQUE,
    workflow_state TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX accounts_parent_account_id ON accounts (parent_account_id);

CREATE TABLE courses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    course_code TEXT NOT NULL,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    root_account_id INTEGER NOT NULL REFERENCES accounts (id),
    uuid TEXT NOT NULL UNIQUE,
    workflow_state TEXT NOT NULL DEFAULT 'available',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX courses_account_id ON courses (account_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    sortable_name TEXT NOT NULL,
    short_name TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Only the SHA-256 of a token is kept: a copy of the database file grants no access.
CREATE TABLE access_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE TABLE account_admins (
    user_id INTEGER NOT NULL REFERENCES users (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (user_id, account_id)
);

CREATE TABLE course_teachers (
    user_id INTEGER NOT NULL REFERENCES users (id),
    course_id INTEGER NOT NULL REFERENCES courses (id),
    PRIMARY KEY (user_id, course_id)
);

-- One permission on one context; context_id names an account or a course, so it has no foreign
-- key: HostDatabase.grant checks that the context exists.
CREATE TABLE grants (
    user_id INTEGER NOT NULL REFERENCES users (id),
    permission TEXT NOT NULL
        CHECK (permission IN ('import_outcomes', 'manage_outcomes', 'read_outcomes')),
    context_type TEXT NOT NULL CHECK (context_type IN ('account', 'course')),
    context_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, permission, context_type, context_id)
);
