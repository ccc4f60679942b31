#!/usr/bin/env bash
# Whole-process comparison of `covtop report --offline` on a session holding one big JaCoCo dump
# with JaCoCo 0.8.6's Analyzer (Debian's libjacoco-java) reading the same exec file and jar and
# computing every line's counters: wall time, CPU time (user + sys) and peak RSS, runs
# interleaved, medians.
#
# Input (default: Debian's libeclipse-jdt-core-java, eclipse-jdt-core 3.32, ~2,000 classes):
# - a throwaway git repository with one stub source file per SourceFile of the jar (one `//`
#   line per source line, so every class maps to a file and is projected as with the real
#   sources), committed on `main`; branch `feature` edits every 10th file (changed lines);
# - `covtop.toml`: one `jacoco` target whose `classes` is the jar;
# - session `default` holding ONE dump (`SessionStore::persist`, what `covtop dump` stores): an
#   exec file with data for every class that has probes — ids and probe counts from covtop's
#   analysis (JaCoCo's Analyzer fails on a probe count it disagrees with), pseudo-random probes
#   (seeded: 1 class in 8 not run, 1 in 8 fully, the rest partly at a per-class rate).
#   See `report_fixture` in benches/java_analysis.rs.
#
# Both sides end with the same line totals (checked below): covtop's `totals.whole` of the JSON
# report, JaCoCo's line statuses summed over every source file of its CoverageBuilder.
#
# Usage: RUNS=7 benches/compare_jacoco_report.sh [JAR]
#        KEEP=/tmp/jdt RUNS=1 benches/compare_jacoco_report.sh   (keeps the fixture in /tmp/jdt:
#        the repository is /tmp/jdt/repo, `cd /tmp/jdt/repo && covtop report --offline`)
set -euo pipefail
cd "$(dirname "$0")/.."
JAR=${1:-/usr/share/java/eclipse-jdt-core.jar}
JAR=$(readlink -f "$JAR")
RUNS=${RUNS:-5}
CP=/usr/share/java/org.jacoco.core.jar:/usr/share/java/asm.jar:/usr/share/java/asm-commons.jar:/usr/share/java/asm-tree.jar:/usr/share/java/asm-analysis.jar
if [ -n "${KEEP:-}" ]; then
  # KEEP=DIR: build the fixture in DIR (emptied first) and leave it there for profiling.
  WORK=$(mkdir -p "$KEEP" && cd "$KEEP" && pwd)
  rm -rf "${WORK:?}"/*
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi

cat > "$WORK/ReportAnalysis.java" <<'JAVA'
import java.io.File;
import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.CoverageBuilder;
import org.jacoco.core.analysis.ICounter;
import org.jacoco.core.analysis.ISourceFileCoverage;
import org.jacoco.core.tools.ExecFileLoader;

/** Reads an exec file, analyses every class of the jar against it, sums every line's status. */
public class ReportAnalysis {
    public static void main(String[] args) throws Exception {
        ExecFileLoader loader = new ExecFileLoader();
        loader.load(new File(args[0]));
        CoverageBuilder builder = new CoverageBuilder();
        Analyzer analyzer = new Analyzer(loader.getExecutionDataStore(), builder);
        analyzer.analyzeAll(new File(args[1]));
        long covered = 0, partial = 0, missed = 0, files = 0;
        for (ISourceFileCoverage sf : builder.getSourceFiles()) {
            files++;
            for (int l = sf.getFirstLine(); l <= sf.getLastLine(); l++) {
                switch (sf.getLine(l).getStatus()) {
                    case ICounter.FULLY_COVERED: covered++; break;
                    case ICounter.PARTLY_COVERED: partial++; break;
                    case ICounter.NOT_COVERED: missed++; break;
                    default: break;
                }
            }
        }
        System.out.printf("jacoco: %d classes, %d source files, lines covered %d partial %d missed %d%n",
            builder.getClasses().size(), files, covered, partial, missed);
    }
}
JAVA
javac -nowarn -d "$WORK" -cp "$CP" "$WORK/ReportAnalysis.java"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --bin covtop 2>/dev/null
cargo bench --bench java_analysis --no-run 2>/dev/null
COVTOP=$(readlink -f "$CARGO_TARGET_DIR/release/covtop")
HELPER=$(ls -t "$CARGO_TARGET_DIR"/release/deps/java_analysis-* | grep -v '\.d$' | head -1)

# The fixture: stub sources + the exec, a repository, the config, the stored dump.
COVTOP_REPORT_FIXTURE=sources "$HELPER" "$JAR" "$WORK"
R=$WORK/repo
g() { git -C "$R" -c user.name=bench -c user.email=bench@example.invalid "$@"; }
g init -q -b main
g add -A
g commit -qm base
g checkout -qb feature
find "$R/src" -type f | sort | awk 'NR % 10 == 0' | while read -r f; do sed -i 's|^//$|// changed|' "$f"; done
g commit -qam feature
cat > "$R/covtop.toml" <<TOML
[repo]
path = "."
base = "main"
revision = "HEAD"

[[target]]
name = "jdt"
kind = "jacoco"
address = "127.0.0.1:1"
classes = ["$JAR"]
TOML
COVTOP_REPORT_FIXTURE=dump "$HELPER" "$WORK" "$R/.covtop" jdt "$(g rev-parse HEAD)"
ls -l "$WORK/dump.exec" "$R"/.covtop/sessions/*/

# Sanity: both sides see the same lines.
(cd "$R" && "$COVTOP" report --offline --format json > "$WORK/report.json")
jq -c '.whole' "$WORK/report.json" | sed 's/^/covtop: whole-file lines /'
java -cp "$WORK:$CP" ReportAnalysis "$WORK/dump.exec" "$JAR"

# Interleaved runs on the shared machine; %e wall, %U user, %S sys, %M peak RSS (KB).
for i in $(seq "$RUNS"); do
  (cd "$R" && /usr/bin/time -f "%e %U %S %M" -a -o "$WORK/covtop.runs" \
    "$COVTOP" report --offline --format json > /dev/null)
  /usr/bin/time -f "%e %U %S %M" -a -o "$WORK/jacoco.runs" \
    java -cp "$WORK:$CP" ReportAnalysis "$WORK/dump.exec" "$JAR" > /dev/null
done
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
summary() {
  local f=$1
  local wall cpu rss
  wall=$(cut -d' ' -f1 "$f" | median)
  cpu=$(awk '{printf "%.2f\n", $2 + $3}' "$f" | median)
  rss=$(cut -d' ' -f4 "$f" | median)
  echo "wall median $wall s, CPU (user+sys) median $cpu s, peak RSS median $((rss / 1024)) MiB (max $(( $(cut -d' ' -f4 "$f" | sort -n | tail -1) / 1024 )) MiB)"
  echo "  runs (wall user sys KB): $(tr '\n' ';' < "$f")"
}
echo "== covtop report --offline --format json (release), $RUNS runs"
summary "$WORK/covtop.runs"
echo "== JaCoCo 0.8.6: ExecFileLoader + Analyzer.analyzeAll + every line of every source file, cold JVM, $RUNS runs"
summary "$WORK/jacoco.runs"
cw=$(cut -d' ' -f1 "$WORK/covtop.runs" | median); jw=$(cut -d' ' -f1 "$WORK/jacoco.runs" | median)
cc=$(awk '{printf "%.3f\n", $2 + $3}' "$WORK/covtop.runs" | median); jc=$(awk '{printf "%.3f\n", $2 + $3}' "$WORK/jacoco.runs" | median)
awk -v cw="$cw" -v jw="$jw" -v cc="$cc" -v jc="$jc" \
  'BEGIN {printf "== ratio JaCoCo/covtop: wall %.1fx, CPU %.1fx\n", jw / cw, jc / (cc > 0 ? cc : 0.001)}'
echo "== load on the machine: $(cut -d' ' -f1-3 /proc/loadavg)"
