# Stage 6: the report's landing page (thex/report.py), which workflow/report/workflow.rst
# includes, so that results/report.html opens on the verdicts, the headline table and the
# main figure.


localrules:
    landing,


rule landing:
    input:
        headline=f"{RESULTS}/tables/headline.csv",
        orderings=f"{RESULTS}/tables/orderings.csv",
        figure=f"{RESULTS}/figures/{MAIN_FIGURE}.png",
        check=[CHECK_LINE] if CHECK_LINE else [],
        code=stage_code("landing"),
    output:
        LANDING,
    log:
        f"{LOGS}/landing.log",
    conda:
        ENV
    params:
        thex=THEX_COMMAND,
        tables_dir=lambda w, input: parent(input.headline),
        check=lambda w, input: f"--check {input.check}" if input.check else "",
    shell:
        "{params.thex} landing --tables-dir {params.tables_dir} --figure {input.figure} {params.check}"
        " --out {output} > {log} 2>&1"
