# Stage 1: datasets. One job per (experiment, condition) that has its own data writes
# every split to {results}/{experiment}/{condition}/data/{split}.parquet.


rule generate:
    input:
        code=stage_code("data"),
    output:
        directory(f"{R}/{{experiment}}/{{condition}}/data"),
    log:
        "logs/generate/{experiment}/{condition}.log",
    benchmark:
        "logs/benchmarks/generate/{experiment}/{condition}.tsv"
    conda:
        ENV
    threads: WF.workers
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        thex=THEX,
        dataset=lambda w: json.dumps(WF.dataset_dict(w.experiment, w.condition)),
    shell:
        "{params.thex} generate {params.dataset:q} {output} --workers {threads} --quiet > {log} 2>&1"
