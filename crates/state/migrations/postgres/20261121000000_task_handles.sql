-- Handles a job keeps across the attempts of one task instance (e.g. a Glue JobRunId), so a
-- retry or a restarted scheduler reconnects to the remote run instead of starting another.
CREATE TABLE task_handles (
    ti_id      BIGINT NOT NULL REFERENCES task_instances (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    try_number BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (ti_id, name)
);
