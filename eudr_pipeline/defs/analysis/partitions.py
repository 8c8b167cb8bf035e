import dagster as dg

# One partition per submitted job (its job_id): Dagster's bookkeeping is per job, the
# plots of a job are rows inside it (a partition per plot would cost ~15 ms each).
jobs_partitions = dg.DynamicPartitionsDefinition(name="jobs")
