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

echo "== covtop (release build of benches/java_analysis.rs, one analysis + one projection)"
cargo bench --bench java_analysis --no-run 2>/dev/null
BENCH=$(ls -t target/release/deps/java_analysis-* | grep -v '\.d$' | head -1)
COVTOP_ANALYZE_ONCE=1 /usr/bin/time -v "$BENCH" "${JARS[@]}" 2> "$WORK/covtop.time"
grep -E 'Elapsed|Maximum resident' "$WORK/covtop.time"

echo "== JaCoCo 0.8.6 Analyzer, cold JVM (one round)"
/usr/bin/time -v java -cp "$WORK:$CP" WholeAnalysis 1 "${JARS[@]}" 2> "$WORK/jacoco.time"
grep -E 'Elapsed|Maximum resident' "$WORK/jacoco.time"

echo "== JaCoCo 0.8.6 Analyzer, warm JVM (best of 15 rounds)"
java -cp "$WORK:$CP" WholeAnalysis 15 "${JARS[@]}"
