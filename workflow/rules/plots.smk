# Stage 5: the figures (PNG for the report, SVG alongside).


localrules:
    plots,


rule plots:
    input:
        summary=SUMMARY_OUT,
        code=stage_code("plots"),
    output:
        [
            report(
                f"{RESULTS}/figures/{name}.png",
                caption=f"../report/{name}.rst",
                category="Figures",
                labels={"figure": name},
            )
            for name in FIGURES
        ],
        expand(f"{RESULTS}/figures/{{name}}.svg", name=list(FIGURES)),
    log:
        f"{LOGS}/plots.log",
    conda:
        ENV
    params:
        thex=THEX_COMMAND,
        headline=json.dumps(to_dict(WORKFLOW_CONFIG.headline)),
        summary_dir=lambda w, input: parent(input.summary[0]),
        out_dir=lambda w, output: parent(output[0]),
    shell:
        "{params.thex} plots --summary-dir {params.summary_dir} --out-dir {params.out_dir}"
        " --headline {params.headline:q} > {log} 2>&1"
