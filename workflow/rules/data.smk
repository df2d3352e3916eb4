# Stage 1: datasets. One rule per dataset that the config generates
# (generate_<experiment>_<condition>), whose outputs are its split files
# {results}/{experiment}/{condition}/data/{split}.parquet: the splits differ between
# datasets, and declaring each file (not the folder) lets Snakemake see a split that
# changed or was damaged, so the jobs that read it run again.
for _experiment, _condition in WORKFLOW_CONFIG.datasets():

    rule:
        name:
            generate_rule_name(_experiment, _condition)
        input:
            code=stage_code("data"),
        output:
            split_files(_experiment, _condition),
        log:
            f"{LOGS}/generate/{_experiment}/{_condition}.log",
        benchmark:
            f"{LOGS}/benchmarks/generate/{_experiment}/{_condition}.tsv"
        conda:
            ENV
        threads: WORKFLOW_CONFIG.workers
        resources:
            mem_mb=2000,
            runtime=60,
        params:
            thex=THEX_COMMAND,
            dataset=json.dumps(WORKFLOW_CONFIG.dataset_dict(_experiment, _condition)),
            out_dir=lambda w, output: parent(output[0]),
        shell:
            "{params.thex} generate {params.dataset:q} {params.out_dir} --workers {threads} --quiet > {log} 2>&1"
