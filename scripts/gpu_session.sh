#!/usr/bin/env bash
# The GPU session of issue 20 on a lent H200 with no network (docs/calibration.md, "GPU run").
# Prepared here, run there from the repository root with the wheels in .whl/ (README, "A GPU
# machine without internet"; pulp left out: Snakemake runs with --scheduler greedy) and the
# benchmark references in .refs/ (nanoGPT's model.py, safari's standalone_hyena.py, as
# fetched, never committed):
#   bash scripts/gpu_session.sh verdict   # CUDA tests, then the verdict study (config/verdicts/gpu.yaml)
#   bash scripts/gpu_session.sh bench     # python -m thex.bench models, eager and compiled
#   bash scripts/gpu_session.sh all       # both, the benchmark in the time the verdict leaves
# Everything it reports ends up in ONE file, $OUT/gpu_session.tar.gz (default OUT: gpu_out/):
# the device tool brings back at most 8 files, and a first run that wrote more lost its
# verdict summary that way. Logs are written to $OUT/session/ and packed with the results
# when the script ends.
set -uo pipefail
FINAL_OUT=$(mkdir -p "${OUT:-gpu_out}" && cd "${OUT:-gpu_out}" && pwd)
OUT=$FINAL_OUT/session
mkdir -p "$OUT"
pack() {
    local found=()
    for path in "${SIZED:-}" "${RESULTS:-}"/{summary,tables,figures,logs}; do
        [ -e "$path" ] && found+=(-C "$PWD" "$path")
    done
    tar czf "$FINAL_OUT/gpu_session.tar.gz" -C "$FINAL_OUT" session "${found[@]}" && rm -rf "$OUT"
}
trap pack EXIT
export PYTHONUNBUFFERED=1
VERDICT_S=${VERDICT_S:-330}  # the issue allows 6 minutes; the rest of the call is the benchmark's
CALL_S=${CALL_S:-585}  # the device call's limit: the benchmark gets what the verdict leaves
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
CONFIG=${CONFIG:-config/verdicts/gpu.yaml}  # another config's results: RESULTS=its results folder
RESULTS=${RESULTS:-results/gpu}
SIZED=${CONFIG%.yaml}_sized.yaml
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }

mode=${1:-}
case "$mode" in verdict | bench | all) ;; *)
    echo "usage: bash scripts/gpu_session.sh verdict|bench|all" >&2
    exit 2
    ;;
esac

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD
{ nvidia-smi; python3 -c 'import sys, torch; print(sys.version); print("torch", torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))'; } >"$OUT/machine.txt" 2>&1

verdict() {
    # 1. The CUDA tests and the Hyena test they disagree with (issue 20).
    [ -n "${SKIP_TESTS:-}" ] || timeout 100 python3 -m pytest -p no:cacheprovider -q -rA tests/test_cuda.py tests/test_hyena.py >"$OUT/tests.log" 2>&1
    echo "tests: exit $? after $(elapsed) s"

    # 2. The verdict study, its token budget set in the config from the first GPU session's
    #    measurements (docs/calibration.md, "GPU run") to fit VERDICT_S seconds; stopped at
    #    VERDICT_S + 60 s whatever happens, so that what it made comes back within the call.
    #    SIZE=1 sizes the budget on the spot instead (python -m thex.bench concurrent: a
    #    probe whose simultaneous start-ups overstate each job's overhead, see its docstring).
    SMK="python3 -m snakemake --scheduler greedy --cores 16 --resources gpu=${JOBS:-12} --keep-going"
    t0=$(date +%s)
    config=$CONFIG
    if [ -n "${SIZE:-}" ]; then
        $SMK $RESULTS/globals/with_globals/data/train.parquet $RESULTS/multilang/mix/data/train.parquet \
            --configfile $CONFIG >"$OUT/data.log" 2>&1 || { echo "data generation failed"; tail -30 "$OUT/data.log"; return 1; }
        rm -f $SIZED
        python3 -m thex.bench concurrent --configfile $CONFIG \
            --data-dir $RESULTS/globals/with_globals/data --jobs ${JOBS:-12} --steps 50 \
            --deadline-s $((VERDICT_S - 45 - 30 - ($(date +%s) - t0))) \
            --write-config $SIZED --json "$OUT/budget.json" 2>&1 | tee "$OUT/budget.log"
        [ -f $SIZED ] || { echo "no budget"; return 1; }
        config=$SIZED
        echo "datasets and probe: $(($(date +%s) - t0)) s"
    fi
    t1=$(date +%s)
    timeout $((VERDICT_S + 60 - (t1 - t0))) $SMK --configfile $config >"$OUT/workflow.log" 2>&1
    echo "workflow: exit $? after $(($(date +%s) - t1)) s"
    tail -5 "$OUT/workflow.log"
}

bench() {
    # Our models beside nanoGPT and the safari Hyena stack; ratios from one run. Eager, then
    # compiled (GPT-2 small first: the MFU goal), each stopped when the call's time is up
    # (the logs keep the rows printed so far).
    left() { local t=$((CALL_S - $(elapsed))); echo $((t > 1 ? t : 1)); }
    BENCH="python3 -m thex.bench models --reference-dir .refs --warmup 2 --steps 2 --repeats 5"
    timeout $(($(left) * 2 / 5)) $BENCH --shape 16,256,8,512,64,128 --shape 12,768,12,1024,16,50304 \
        --arch gpt2,hyena,thex-12 --json "$OUT/bench_eager.json" >"$OUT/bench_eager.log" 2>&1
    echo "eager: exit $? after $(elapsed) s"; cat "$OUT/bench_eager.log"
    timeout $(($(left) / 2)) $BENCH --compile --shape 12,768,12,1024,16,50304 --arch gpt2 \
        --json "$OUT/bench_compile_small.json" >"$OUT/bench_compile_small.log" 2>&1
    echo "compiled GPT-2 small: exit $? after $(elapsed) s"; cat "$OUT/bench_compile_small.log"
    timeout $(($(left) - 5)) $BENCH --compile --shape 16,256,8,512,64,128 --arch gpt2,hyena,thex-12 \
        --json "$OUT/bench_compile.json" >"$OUT/bench_compile.log" 2>&1
    echo "compiled: exit $? after $(elapsed) s"; cat "$OUT/bench_compile.log"
}

[ "$mode" = bench ] || verdict || echo "verdict stopped after $(elapsed) s"
[ "$mode" = verdict ] || bench
echo "total: $(elapsed) s"
