# Stage 2: training, one job per run: (experiment, condition, architecture, width,
# position embedding) x learning rate x seed. A job that is killed resumes from its last
# checkpoint (RUN/checkpoints/) when run again.


rule train:
    input:
        data=lambda w: split_files(w.experiment, w.condition),
        code=stage_code("train"),
    output:
        model=f"{RUN}/model.safetensors",
        sidecar=f"{RUN}/model.json",
        metrics=f"{RUN}/metrics.parquet",
        summary=f"{RUN}/train_summary.json",
    log:
        f"{LOGS}/train/{RUN_LAYOUT}.log",
    benchmark:
        f"{LOGS}/benchmarks/train/{RUN_LAYOUT}.tsv"
    conda:
        ENV
    threads: WORKFLOW_CONFIG.threads
    resources:
        mem_mb=WORKFLOW_CONFIG.mem_mb,
        runtime=WORKFLOW_CONFIG.runtime,
        gpu=gpu_resources(),
    params:
        thex=THEX_COMMAND,
        run=lambda w: json.dumps(
            to_dict(WORKFLOW_CONFIG.cell_run_config(wildcard_cell(w), float(w.lr)))
        ),
        data_dir=lambda w: data_dir(w.experiment, w.condition),
        out_dir=lambda w, output: parent(output.model),
        device=WORKFLOW_CONFIG.device,
    shell:
        "{params.thex} train --config {params.run:q} --data-dir {params.data_dir} --out-dir {params.out_dir}"
        " --arch {wildcards.arch} --seed {wildcards.seed} --experiment {wildcards.experiment} --condition {wildcards.condition}"
        " --device {params.device} --threads {threads} --quiet > {log} 2>&1"


localrules:
    select_lr,


# The learning rate of each cell, chosen on validation from its tuning runs
# (thex/tuning.py). A checkpoint: which runs are evaluated and reported depends on it.
checkpoint select_lr:
    input:
        metrics=lambda w: [
            f"{run}/metrics.parquet" for run in tuning_runs(wildcard_cell(w))
        ],
        summaries=lambda w: [
            f"{run}/train_summary.json" for run in tuning_runs(wildcard_cell(w))
        ],
        prior=lambda w: (
            [f"{WORKFLOW_CONFIG.sweep_of(w.experiment).prior_tuning}/curves.parquet"]
            if prior_tuning(wildcard_cell(w))
            else []
        ),
        code=stage_code("select_lr"),
    output:
        f"{CELL}/selected_lr.json",
    log:
        f"{LOGS}/select_lr/{CELL_LAYOUT}.log",
    conda:
        ENV
    params:
        thex=THEX_COMMAND,
        runs=lambda w, input: [parent(path) for path in input.metrics],
        prior=lambda w: " ".join(
            f"{lr!r}:{seed}:{score!r}"
            for (lr, seed), score in sorted(prior_tuning(wildcard_cell(w)).items())
        ),
    shell:
        "{params.thex} select-lr --runs {params.runs} --prior {params.prior} --out {output} > {log} 2>&1"
