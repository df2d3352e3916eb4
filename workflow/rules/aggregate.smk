# Stage 4b: comparison tables (CSV and Markdown) from the results summary.


localrules:
    tables,


rule tables:
    input:
        summary=SUMMARY_OUT,
        code=stage_code("tables"),
    output:
        [
            report(
                f"{RESULTS}/tables/{name}.csv",
                caption="../report/tables.rst",
                category="Tables",
                labels={"table": name},
            )
            for name in TABLE_NAMES
        ],
        expand(f"{RESULTS}/tables/{{name}}.md", name=TABLE_NAMES),
    log:
        f"{LOGS}/tables.log",
    conda:
        ENV
    params:
        thex=THEX_COMMAND,
        headline=json.dumps(to_dict(WORKFLOW_CONFIG.headline)),
        summary_dir=lambda w, input: parent(input.summary[0]),
        out_dir=lambda w, output: parent(output[0]),
    shell:
        "{params.thex} tables --summary-dir {params.summary_dir} --out-dir {params.out_dir}"
        " --headline {params.headline:q} > {log} 2>&1"
