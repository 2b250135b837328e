-- Who asked for the run: policy, trigger, BullMQ job id and attempt.
update runs set policy = $2, trigger = $3, job_id = $4, attempt = $5::integer where id = $1
