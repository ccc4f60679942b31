#!/usr/bin/env bash
# Whole-process comparison of covtop's native JaCoCo analysis with JaCoCo 0.8.6's Analyzer
# (Debian's libjacoco-java) on the same jars: wall time and peak RSS of one cold run each, plus a
# JVM-warm figure (best of several in-process repetitions after warm-up).
#
# Usage: benches/compare_jacoco.sh [JAR...]   (default: guava and commons-lang3)
set -euo pipefail
cd "$(dirname "$0")/.."
JARS=("$@")
if [ ${#JARS[@]} -eq 0 ]; then
  JARS=(/usr/share/java/guava.jar /usr/share/java/commons-lang3.jar)
fi
CP=/usr/share/java/org.jacoco.core.jar:/usr/share/java/asm.jar:/usr/share/java/asm-commons.jar:/usr/share/java/asm-tree.jar:/usr/share/java/asm-analysis.jar
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/WholeAnalysis.java" <<'JAVA'
import java.io.File;
import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.CoverageBuilder;
import org.jacoco.core.data.ExecutionDataStore;

/** Analyses every class of the given jars with JaCoCo, `rounds` times; prints timings. */
public class WholeAnalysis {
    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        long best = Long.MAX_VALUE;
        int classes = 0;
        for (int r = 0; r < rounds; r++) {
            long t0 = System.nanoTime();
            CoverageBuilder builder = new CoverageBuilder();
            Analyzer analyzer = new Analyzer(new ExecutionDataStore(), builder);
            for (int i = 1; i < args.length; i++) {
                analyzer.analyzeAll(new File(args[i]));
            }
            long t = System.nanoTime() - t0;
            best = Math.min(best, t);
            classes = builder.getClasses().size();
        }
        System.out.printf("jacoco: %d classes, best of %d rounds %.1f ms%n", classes, rounds, best / 1e6);
    }
}
JAVA
javac -nowarn -d "$WORK" -cp "$CP" "$WORK/WholeAnalysis.java"

cargo bench --bench java_analysis --no-run 2>/dev/null
BENCH=$(ls -t target/release/deps/java_analysis-* | grep -v '\.d$' | head -1)
RUNS=${RUNS:-5}

# The machine may be shared: covtop and JaCoCo runs are interleaved so both see the same load,
# and the median of RUNS runs is reported.
for i in $(seq "$RUNS"); do
  COVTOP_ANALYZE_ONCE=1 /usr/bin/time -f "%e %M" -a -o "$WORK/covtop.runs" "$BENCH" "${JARS[@]}" > "$WORK/covtop.out"
  /usr/bin/time -f "%e %M" -a -o "$WORK/jacoco.runs" java -cp "$WORK:$CP" WholeAnalysis 1 "${JARS[@]}" > "$WORK/jacoco.out"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "== covtop (release build of benches/java_analysis.rs: read jars, inflate, CRC64, analyse, project every class)"
cat "$WORK/covtop.out"
echo "wall median of $RUNS: $(cut -d' ' -f1 "$WORK/covtop.runs" | median) s   (runs: $(cut -d' ' -f1 "$WORK/covtop.runs" | tr '\n' ' '))"
echo "peak RSS max: $(cut -d' ' -f2 "$WORK/covtop.runs" | sort -n | tail -1) KB"

echo "== JaCoCo 0.8.6 Analyzer, cold JVM (one round per process)"
cat "$WORK/jacoco.out"
echo "wall median of $RUNS: $(cut -d' ' -f1 "$WORK/jacoco.runs" | median) s   (runs: $(cut -d' ' -f1 "$WORK/jacoco.runs" | tr '\n' ' '))"
echo "peak RSS max: $(cut -d' ' -f2 "$WORK/jacoco.runs" | sort -n | tail -1) KB"

echo "== JaCoCo 0.8.6 Analyzer, warm JVM (15 rounds in one process, best round)"
/usr/bin/time -f "whole process %e s, peak RSS %M KB" java -cp "$WORK:$CP" WholeAnalysis 15 "${JARS[@]}"
echo "== load on the machine: $(cut -d' ' -f1-3 /proc/loadavg)"
