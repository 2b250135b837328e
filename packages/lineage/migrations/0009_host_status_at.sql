-- When the host's recorded state (up or down) was observed: a poll that ended late (a timeout,
-- stamped at its start) must not overwrite a newer poll's answer. A slow replica's "down" landed
-- after another's "up", and the host showed down for up to a minute (GC skipped it meanwhile).
alter table hosts add column status_at timestamptz;
