# Stage 4b: comparison tables (CSV and Markdown) from the results summary.


localrules:
    tables,


rule tables:
    input:
        summary=expand(f"{SUMMARY}/{{file}}", file=SUMMARY_FILES),
        code=stage_code("tables"),
    output:
        [
            report(
                f"{R}/tables/{name}.csv",
                caption="../report/tables.rst",
                category="Tables",
                labels={"table": name},
            )
            for name in TABLE_NAMES
        ],
        expand(f"{R}/tables/{{name}}.md", name=TABLE_NAMES),
    log:
        f"{LOGS}/tables.log",
    conda:
        ENV
    params:
        thex=THEX,
        headline=json.dumps(to_dict(WF.headline)),
        summary_dir=lambda w, input: parent(input.summary[0]),
        out_dir=lambda w, output: parent(output[0]),
    shell:
        "{params.thex} tables --summary-dir {params.summary_dir} --out-dir {params.out_dir}"
        " --headline {params.headline:q} > {log} 2>&1"
