"""Running the pipeline on one machine: the servers the project starts itself (Kafka in KRaft mode
and PostgreSQL, `servers`), the services as child processes (`services`), the whole pipeline
(`pipeline`: what `crm up`, `crm demo` and the end-to-end tests run) and the file that tells other
`crm` commands where a running one is (`stack_file`)."""
