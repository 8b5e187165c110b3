-- Leases: work that exactly one of several servers on one database may do at a time (the
-- lifecycle loop). A holder keeps its lease by renewing it before `expires_at` (unix
-- milliseconds); once that has passed, any server may take it.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    taken_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
