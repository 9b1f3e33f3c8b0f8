-- 0200_worker_nodes: the processes that work River jobs, and whether they are alive.
--
-- A worker process killed in the middle of a job (OOM, SIGKILL, a machine lost) leaves the
-- job "running"; River's own rescuer gives it back only after an hour or the job's timeout,
-- whichever is longer (an import waited an hour). Every process with workers beats its row
-- here every few seconds under its River client id (the id River writes in
-- river_job.attempted_by); the leader's rescue_orphaned_jobs job gives the running jobs of a
-- process that stopped beating back to River (store.JobsRescueOrphaned). A process that stops
-- cleanly marks its row stopped: a job still running after its shutdown is rescued at once.
CREATE TABLE worker_nodes (
    client_id  text PRIMARY KEY,
    hostname   text NOT NULL,
    pid        integer NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now(),
    stopped_at timestamptz
);
