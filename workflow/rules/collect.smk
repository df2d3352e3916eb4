# Stage 4a: every run's results into one summary directory (what tables and figures read;
# a committed copy of it is what `regenerate=True` works from).


localrules:
    collect,


rule collect:
    input:
        evaluations=expand("{run}/eval.parquet", run=run_dirs()),
        summaries=expand("{run}/eval.json", run=run_dirs()),
        curves=expand("{run}/metrics.parquet", run=run_dirs()),
        data=sorted({path for e, c in conditions() for path in split_files(e, c)}),
        code=stage_code("collect"),
    output:
        expand(f"{R}/summary/{{file}}", file=SUMMARY_FILES),
    log:
        "logs/collect.log",
    conda:
        ENV
    params:
        thex=THEX,
        runs=run_dirs(),
        data=[f"{e}/{c}={data_dir(e, c)}" for e, c in conditions()],
        out_dir=lambda w, output: parent(output[0]),
    shell:
        "{params.thex} collect --runs {params.runs} --data {params.data} --out-dir {params.out_dir} > {log} 2>&1"
