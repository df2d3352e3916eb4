# Stage 4a: every run's results into one summary directory (what tables and figures read;
# a committed copy of it is what `regenerate=True` works from). Reported runs (each cell's
# selected learning rate) bring their test scores; the other tuning runs only their
# learning curves; every cell its learning-rate choice.


localrules:
    collect,


rule collect:
    input:
        evaluations=lambda w: [f"{run}/eval.parquet" for run in reported_runs()],
        summaries=lambda w: [f"{run}/eval.json" for run in reported_runs()],
        curves=lambda w: [f"{run}/metrics.parquet" for run in reported_runs()],
        tuning=lambda w: [f"{run}/metrics.parquet" for run in unreported_tuning_runs()],
        probes=lambda w: (
            [f"{run}/probes/probe.json" for run in reported_runs()]
            if WORKFLOW_CONFIG.probes.enabled
            else []
        ),
        selections=lambda w: [
            f"{cell_dir(cell)}/selected_lr.json" for cell in WORKFLOW_CONFIG.cells()
        ],
        data=sorted({path for e, c in conditions() for path in split_files(e, c)}),
        code=stage_code("collect"),
    output:
        expand(f"{RESULTS}/summary/{{file}}", file=SUMMARY_FILES),
    log:
        f"{LOGS}/collect.log",
    conda:
        ENV
    params:
        thex=THEX_COMMAND,
        runs=lambda w, input: [parent(path) for path in input.evaluations],
        tuning=lambda w, input: [parent(path) for path in input.tuning],
        probes="--probes" if WORKFLOW_CONFIG.probes.enabled else "",
        data=[f"{e}/{c}={data_dir(e, c)}" for e, c in conditions()],
        out_dir=lambda w, output: parent(output[0]),
    shell:
        "{params.thex} collect --runs {params.runs} --tuning-runs {params.tuning} --selections {input.selections} {params.probes}"
        " --data {params.data} --out-dir {params.out_dir} > {log} 2>&1"
