# Stage 3b: what each reported model computes inside (thex/probes.py): exact match with each
# block's mixer or MLP ablated, linear probes of the answer by depth, attention roles.


rule probe:
    input:
        data=lambda w: split_files(w.experiment, w.condition),
        model=f"{RUN}/model.safetensors",
        sidecar=f"{RUN}/model.json",
        summary=f"{RUN}/train_summary.json",
        code=stage_code("probe"),
    output:
        ablations=f"{RUN}/probes/ablations.parquet",
        probes=f"{RUN}/probes/probes.parquet",
        attention=f"{RUN}/probes/attention.parquet",
        info=f"{RUN}/probes/probe.json",
    log:
        f"{LOGS}/probe/{RUN_LAYOUT}.log",
    benchmark:
        f"{LOGS}/benchmarks/probe/{RUN_LAYOUT}.tsv"
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
        out_dir=lambda w, output: parent(output.info),
        device=WORKFLOW_CONFIG.device,
        n_probe=WORKFLOW_CONFIG.probes.n_probe,
        ablation=WORKFLOW_CONFIG.probes.ablation,
    shell:
        "{params.thex} probe --model-dir {params.model_dir} --data-dir {params.data_dir}"
        " --out-dir {params.out_dir} --n-probe {params.n_probe} --ablation {params.ablation}"
        " --device {params.device} --threads {threads} > {log} 2>&1"
