# Stage 3: exact match, token accuracy and answer loss for every evaluation split.


rule evaluate:
    input:
        data=lambda w: split_files(w.experiment, w.condition),
        model=f"{RUN}/model.safetensors",
        sidecar=f"{RUN}/model.json",
        summary=f"{RUN}/train_summary.json",
        code=stage_code("evaluate"),
    output:
        results=f"{RUN}/eval.parquet",
        summary=f"{RUN}/eval.json",
    log:
        f"{LOGS}/evaluate/{RUN_LAYOUT}.log",
    benchmark:
        f"{LOGS}/benchmarks/evaluate/{RUN_LAYOUT}.tsv"
    conda:
        ENV
    threads: WORKFLOW_CONFIG.threads
    resources:
        mem_mb=WORKFLOW_CONFIG.mem_mb,
        runtime=WORKFLOW_CONFIG.runtime,
        gpu=gpu_resources(),
    params:
        thex=THEX_COMMAND,
        model_dir=lambda w, input: parent(input.model),
        data_dir=lambda w: data_dir(w.experiment, w.condition),
        device=WORKFLOW_CONFIG.device,
    shell:
        "{params.thex} evaluate --model-dir {params.model_dir} --data-dir {params.data_dir}"
        " --out {output.results} --summary {output.summary} --device {params.device}"
        " --threads {threads} > {log} 2>&1"
