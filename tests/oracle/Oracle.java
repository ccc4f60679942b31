import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import org.jacoco.core.analysis.Analyzer;
import org.jacoco.core.analysis.IClassCoverage;
import org.jacoco.core.analysis.ICounter;
import org.jacoco.core.analysis.ICoverageVisitor;
import org.jacoco.core.analysis.ILine;
import org.jacoco.core.analysis.IMethodCoverage;
import org.jacoco.core.data.ExecutionData;
import org.jacoco.core.data.ExecutionDataStore;
import org.jacoco.core.internal.data.CRC64;
import org.jacoco.core.internal.flow.ClassProbesAdapter;
import org.jacoco.core.internal.flow.ClassProbesVisitor;
import org.jacoco.core.internal.flow.MethodProbesVisitor;
import org.jacoco.core.tools.ExecFileLoader;
import org.objectweb.asm.ClassReader;

/**
 * covtop's oracle: JaCoCo 0.8.6's own Analyzer, run one class file at a time, printing what
 * covtop's native analysis must reproduce.
 *
 * Usage: Oracle (--exec FILE | --random SEED) INPUT...   (INPUT: .class file, .jar, or directory)
 *
 * Output, one block per class file:
 *   CLASS <location> <id %016x> <vm name> probes=<count> data=<0/1 string | -> src=<SourceFile | ->
 *   M <name><desc> <line> insn <mi> <ci> br <mb> <cb>
 *   L <line> <status> <insn mi> <insn ci> <br mb> <br cb>
 *   END
 * or `SKIP <location> <id> <name> probes=<count> data=...` when the Analyzer produces no
 * coverage for the class (module-info, synthetic classes), or `ERROR <location> <message>`.
 * In --random mode the probe array of each class is drawn from java.util.Random(seed ^ id).
 */
public final class Oracle {

	private static final class Input {
		final String location;
		final byte[] bytes;

		Input(final String location, final byte[] bytes) {
			this.location = location;
			this.bytes = bytes;
		}
	}

	public static void main(final String[] args) throws Exception {
		ExecutionDataStore exec = null;
		Long seed = null;
		final List<Input> inputs = new ArrayList<Input>();
		for (int i = 0; i < args.length; i++) {
			if ("--exec".equals(args[i])) {
				final ExecFileLoader loader = new ExecFileLoader();
				loader.load(new File(args[++i]));
				exec = loader.getExecutionDataStore();
			} else if ("--random".equals(args[i])) {
				seed = Long.parseLong(args[++i]);
			} else {
				collect(new File(args[i]), inputs);
			}
		}
		final PrintStream out = new PrintStream(new java.io.BufferedOutputStream(System.out, 1 << 16), false, "UTF-8");
		for (final Input in : inputs) {
			analyze(in, exec, seed, out);
		}
		out.flush();
	}

	private static void collect(final File f, final List<Input> inputs) throws IOException {
		if (f.isDirectory()) {
			final File[] children = f.listFiles();
			if (children == null) {
				return;
			}
			final List<File> sorted = new ArrayList<File>();
			Collections.addAll(sorted, children);
			Collections.sort(sorted);
			for (final File c : sorted) {
				collect(c, inputs);
			}
		} else if (f.getName().endsWith(".class")) {
			inputs.add(new Input(f.getPath(), Files.readAllBytes(f.toPath())));
		} else if (f.getName().endsWith(".jar")) {
			final ZipFile zip = new ZipFile(f);
			try {
				final Enumeration<? extends ZipEntry> entries = zip.entries();
				while (entries.hasMoreElements()) {
					final ZipEntry e = entries.nextElement();
					if (!e.isDirectory() && e.getName().endsWith(".class")) {
						inputs.add(new Input(f.getName() + "!" + e.getName(), readAll(zip.getInputStream(e))));
					}
				}
			} finally {
				zip.close();
			}
		}
	}

	private static byte[] readAll(final InputStream in) throws IOException {
		final ByteArrayOutputStream buf = new ByteArrayOutputStream();
		final byte[] b = new byte[8192];
		int n;
		while ((n = in.read(b)) > 0) {
			buf.write(b, 0, n);
		}
		in.close();
		return buf.toByteArray();
	}

	private static int countProbes(final byte[] bytes) {
		final int[] total = new int[1];
		final ClassProbesVisitor counter = new ClassProbesVisitor() {
			@Override
			public MethodProbesVisitor visitMethod(final int access, final String name, final String desc,
					final String signature, final String[] exceptions) {
				return null;
			}

			@Override
			public void visitTotalProbeCount(final int count) {
				total[0] = count;
			}
		};
		new ClassReader(bytes).accept(new ClassProbesAdapter(counter, false), 0);
		return total[0];
	}

	private static void analyze(final Input in, final ExecutionDataStore exec, final Long seed, final PrintStream out) {
		final long id = CRC64.classId(in.bytes);
		final String name;
		final int count;
		try {
			name = new ClassReader(in.bytes).getClassName();
			count = countProbes(in.bytes);
		} catch (final Throwable t) {
			out.println("ERROR " + in.location + " " + oneLine(t));
			return;
		}
		boolean[] probes = null;
		if (exec != null) {
			final ExecutionData d = exec.get(id);
			if (d != null) {
				probes = d.getProbes();
			}
		} else if (seed != null) {
			final Random rnd = new Random(seed.longValue() ^ id);
			final int mode = rnd.nextInt(5);
			if (mode != 0) {
				probes = new boolean[count];
				for (int i = 0; i < count; i++) {
					probes[i] = mode == 1 || (mode == 2 ? rnd.nextBoolean() : rnd.nextInt(mode) == 0);
				}
			}
		}
		final ExecutionDataStore store = new ExecutionDataStore();
		if (probes != null) {
			store.put(new ExecutionData(id, name, probes));
		}
		final List<IClassCoverage> result = new ArrayList<IClassCoverage>();
		final Analyzer analyzer = new Analyzer(store, new ICoverageVisitor() {
			public void visitCoverage(final IClassCoverage coverage) {
				result.add(coverage);
			}
		});
		try {
			analyzer.analyzeClass(in.bytes, in.location);
		} catch (final Throwable t) {
			out.println("ERROR " + in.location + " " + oneLine(t));
			return;
		}
		final StringBuilder data = new StringBuilder();
		if (probes == null) {
			data.append('-');
		} else {
			for (final boolean p : probes) {
				data.append(p ? '1' : '0');
			}
		}
		final String head = in.location + " " + String.format("%016x", id) + " " + name + " probes=" + count
				+ " data=" + data;
		if (result.isEmpty()) {
			out.println("SKIP " + head);
			return;
		}
		final IClassCoverage cc = result.get(0);
		out.println("CLASS " + head + " src=" + (cc.getSourceFileName() == null ? "-" : cc.getSourceFileName()));
		for (final IMethodCoverage m : cc.getMethods()) {
			out.println("M " + m.getName() + m.getDesc() + " " + m.getFirstLine() + " insn "
					+ m.getInstructionCounter().getMissedCount() + " " + m.getInstructionCounter().getCoveredCount()
					+ " br " + m.getBranchCounter().getMissedCount() + " " + m.getBranchCounter().getCoveredCount());
		}
		for (int nr = cc.getFirstLine(); nr <= cc.getLastLine() && nr >= 0; nr++) {
			final ILine line = cc.getLine(nr);
			if (line.getStatus() == ICounter.EMPTY) {
				continue;
			}
			out.println("L " + nr + " " + line.getStatus() + " " + line.getInstructionCounter().getMissedCount() + " "
					+ line.getInstructionCounter().getCoveredCount() + " " + line.getBranchCounter().getMissedCount()
					+ " " + line.getBranchCounter().getCoveredCount());
		}
		out.println("END");
	}

	private static String oneLine(final Throwable t) {
		final StringBuilder b = new StringBuilder();
		for (Throwable c = t; c != null; c = c.getCause()) {
			if (b.length() > 0) {
				b.append(" / ");
			}
			b.append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
		}
		return b.toString().replace('\n', ' ');
	}
}
