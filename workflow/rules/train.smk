# Stage 2: training, one job per (experiment, condition, architecture, seed). A job that
# is killed resumes from its last checkpoint (RUN/checkpoints/) when run again.


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
        "logs/train/{experiment}/{condition}/{arch}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/train/{experiment}/{condition}/{arch}/seed{seed}.tsv"
    conda:
        ENV
    threads: WF.threads
    resources:
        mem_mb=WF.mem_mb,
        runtime=WF.runtime,
        gpu=gpu_resources(),
    params:
        thex=THEX,
        run=lambda w: json.dumps(to_dict(WF.run_config(w.experiment, w.arch))),
        data_dir=lambda w: data_dir(w.experiment, w.condition),
        out_dir=lambda w, output: parent(output.model),
        device=WF.device,
    shell:
        "{params.thex} train --config {params.run:q} --data-dir {params.data_dir} --out-dir {params.out_dir}"
        " --arch {wildcards.arch} --seed {wildcards.seed} --experiment {wildcards.experiment}"
        " --device {params.device} --threads {threads} --quiet > {log} 2>&1"
