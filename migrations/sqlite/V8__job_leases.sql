-- Leases for background jobs that must not run twice at once when several instances share
-- one database (PostgreSQL installs): the holder renews its lease on every run; another
-- instance takes the job over only after the lease has expired.
CREATE TABLE job_leases (
    name        TEXT    PRIMARY KEY,
    holder      TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);
