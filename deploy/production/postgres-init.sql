-- The Dagster instance's database beside the service's (POSTGRES_DB=eudr).
CREATE DATABASE dagster OWNER eudr;
