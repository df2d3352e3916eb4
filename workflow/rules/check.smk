# Stage 6a: whether this run reproduces the config's committed `reference` summary
# (thex/reproduce.py): bitwise where the provenance is the same, statistically otherwise.
# `snakemake check` runs it alone; the report's landing page shows its line.


localrules:
    check,
    reproduction,


rule reproduction:
    input:
        summary=SUMMARY_OUT,
        reference=[f"{REFERENCE}/{file}" for file in REQUIRED_SUMMARY_FILES],
        code=stage_code("check"),
    output:
        table=f"{RESULTS}/check/reproduction.csv",
        markdown=f"{RESULTS}/check/reproduction.md",
        line=CHECK_LINE,
    log:
        f"{LOGS}/check.log",
    conda:
        ENV
    params:
        thex=THEX_COMMAND,
        config=CONFIG_FILE,
        summary_dir=lambda w, input: parent(input.summary[0]),
        reference=lambda w, input: parent(input.reference[0]),
        out_dir=lambda w, output: parent(output.line),
    shell:
        "{params.thex} check --config {params.config} --summary-dir {params.summary_dir} --reference {params.reference}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule check:
    input:
        CHECK_LINE,
    log:
        f"{LOGS}/check_print.log",
    conda:
        ENV
    shell:
        "cat {input} | tee {log}"
