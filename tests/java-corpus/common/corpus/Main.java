package corpus;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Drives part of the corpus so that real agent data has covered, partial and missed lines. */
public class Main {
    public static void main(String[] args) throws IOException {
        Flow.loops(7);
        Flow.ternary(1);
        Flow.ternary(0);
        Flow.shortCircuit(1, 1);
        Flow.labelled(new int[][] {{1, 2}, {-1, 5}, {7}}, 7);
        Flow.exceptions("12");
        Flow.exceptions("x");
        Flow.tryFinally(9);
        Flow.nestedFinally(1);
        Flow.nestedFinally(2);
        Flow.emptyCatchFinally(1);
        Flow.resources(new byte[] {1});
        Flow.twoResources(new byte[] {1}, null);
        Flow.nullableResource(new byte[] {2});
        Flow.closeable(new ArrayList<>());
        Flow.sync(1);
        Flow.syncMethod();
        Flow.strings("alpha");
        Flow.strings("BB");
        Flow.strings("zzz");
        Flow.colors(Color.GREEN);
        Flow.lookup(1000);
        Flow.lambdas(Arrays.asList(1, 2, 3, 4));
        try {
            Flow.throwing(-1);
        } catch (IllegalArgumentException e) {
            // expected
        }
        Flow.throwing(3);
        Flow.arithmetic(3, 2.5, 1.5f);
        Color.RED.warm();
        Color.valueOf("BLUE");
        Planet.MERCURY.describe();
        Planet.EARTH.describe();
        Shapes.run();
        Tools.bridge();
        Tools.generated(2);
        new GeneratedClass().work(1);
        List<String> extra = new ArrayList<>();
        for (String a : args) {
            extra.add(a);
        }
        Java17Hook.run(extra);
    }
}
