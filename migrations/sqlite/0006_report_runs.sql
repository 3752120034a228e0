-- Scheduled reports once per cluster (issue 17): every node sees a report
-- fall due; the one that inserts the run's row writes and delivers it.
CREATE TABLE report_runs (
    schedule TEXT NOT NULL,
    due_us BIGINT NOT NULL,
    node TEXT NOT NULL,
    claimed_at_us BIGINT NOT NULL,
    done_at_us BIGINT,
    PRIMARY KEY (schedule, due_us)
);
