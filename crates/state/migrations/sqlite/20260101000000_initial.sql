-- flowctl state, SQLite flavour. Only INTEGER/BIGINT and TEXT columns: values cross sqlx's
-- Any driver unchanged. Timestamps are fixed-width RFC 3339 UTC text
-- (2026-01-01T00:00:00.000000Z), so text order is time order; booleans are 0/1.

CREATE TABLE dags (
    dag_id       TEXT PRIMARY KEY NOT NULL,
    paused       BIGINT NOT NULL DEFAULT 0,
    version_hash TEXT NOT NULL,
    source_path  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE dag_versions (
    dag_id      TEXT NOT NULL REFERENCES dags (dag_id) ON DELETE CASCADE,
    hash        TEXT NOT NULL,
    source_path TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (dag_id, hash)
);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    dag_id         TEXT NOT NULL REFERENCES dags (dag_id) ON DELETE CASCADE,
    run_id         TEXT NOT NULL,
    version_hash   TEXT NOT NULL,
    logical_date   TEXT NOT NULL,
    interval_start TEXT NOT NULL,
    interval_end   TEXT NOT NULL,
    state          TEXT NOT NULL,
    run_type       TEXT NOT NULL,
    params         TEXT NOT NULL,
    target         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    started_at     TEXT,
    ended_at       TEXT,
    -- The process executing the run, so two processes never execute the same run at once.
    holder           TEXT,
    lease_expires_at TEXT,
    UNIQUE (dag_id, run_id)
);
CREATE INDEX runs_by_state ON runs (state, dag_id);
CREATE INDEX runs_by_dag_date ON runs (dag_id, logical_date);

CREATE TABLE task_instances (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    run_pk           BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id          TEXT NOT NULL,
    state            TEXT NOT NULL,
    try_number       BIGINT NOT NULL DEFAULT 0,
    max_tries        BIGINT NOT NULL,
    lost_count       BIGINT NOT NULL DEFAULT 0,
    next_try_at      TEXT,
    holder           TEXT,
    lease_expires_at TEXT,
    started_at       TEXT,
    ended_at         TEXT,
    UNIQUE (run_pk, task_id)
);
-- Expired-lease scans only look at running task instances.
CREATE INDEX task_instances_leases ON task_instances (lease_expires_at) WHERE state = 'running';

CREATE TABLE attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ti_id      BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
    try_number BIGINT NOT NULL,
    state      TEXT NOT NULL,
    holder     TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at   TEXT,
    exit_code  BIGINT,
    error      TEXT,
    UNIQUE (ti_id, try_number)
);

CREATE TABLE log_chunks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ti_id        BIGINT NOT NULL,
    try_number   BIGINT NOT NULL,
    start_offset BIGINT NOT NULL,
    data         TEXT NOT NULL,
    FOREIGN KEY (ti_id, try_number) REFERENCES attempts (ti_id, try_number) ON DELETE CASCADE
);
CREATE INDEX log_chunks_by_attempt ON log_chunks (ti_id, try_number, start_offset);

CREATE TABLE outputs (
    ti_id BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (ti_id, key)
);
