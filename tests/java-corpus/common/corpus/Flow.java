package corpus;

import java.io.ByteArrayInputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/** Control flow that exercises probe placement and the finally / try-with-resources filters. */
public class Flow {
    static final int[] TABLE;
    static int counter;
    private static final Object LOCK = new Object();

    static {
        TABLE = new int[4];
        for (int i = 0; i < TABLE.length; i++) {
            TABLE[i] = i * i;
        }
    }

    static int loops(int n) {
        int sum = 0;
        for (int i = 0; i < n; i++) {
            if (i % 3 == 0) {
                continue;
            }
            sum += i;
        }
        int j = n;
        while (j > 0) {
            j -= 2;
        }
        do {
            sum++;
        } while (sum < 3);
        return sum + j;
    }

    static String ternary(int x) {
        return x > 0 ? "pos" : x < 0 ? "neg" : "zero";
    }

    static boolean shortCircuit(int a, int b) {
        return a > 0 && b > 0 || a < -10;
    }

    static int labelled(int[][] grid, int wanted) {
        int found = -1;
        outer:
        for (int i = 0; i < grid.length; i++) {
            for (int j = 0; j < grid[i].length; j++) {
                if (grid[i][j] == wanted) {
                    found = i * 10 + j;
                    break outer;
                }
                if (grid[i][j] < 0) {
                    continue outer;
                }
            }
        }
        return found;
    }

    static int exceptions(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return -1;
        } catch (RuntimeException e) {
            return -2;
        }
    }

    static int tryFinally(int x) {
        try {
            if (x > 5) {
                return x;
            }
            counter++;
        } finally {
            counter--;
        }
        return 0;
    }

    static int nestedFinally(int x) {
        try {
            try {
                if (x == 1) {
                    throw new IllegalStateException("one");
                }
                return x;
            } finally {
                counter += 2;
            }
        } catch (IllegalStateException e) {
            return -x;
        } finally {
            counter -= 2;
        }
    }

    static void emptyCatchFinally(int x) {
        try {
            counter += x;
        } catch (RuntimeException e) {
        } finally {
            counter--;
        }
    }

    static int resources(byte[] data) throws IOException {
        try (InputStream in = new ByteArrayInputStream(data)) {
            return in.read();
        }
    }

    static int twoResources(byte[] a, byte[] b) throws IOException {
        try (InputStream x = new ByteArrayInputStream(a); InputStream y = open(b)) {
            return x.read() + (y == null ? 0 : y.read());
        }
    }

    static InputStream open(byte[] b) {
        return b == null ? null : new ByteArrayInputStream(b);
    }

    static int nullableResource(byte[] b) throws IOException {
        try (InputStream in = open(b)) {
            return in == null ? -1 : in.read();
        } catch (IOException e) {
            return -2;
        }
    }

    static void closeable(List<String> log) throws IOException {
        Closeable c = () -> log.add("closed");
        try (Closeable d = c) {
            log.add("body");
        }
    }

    static int sync(int x) {
        synchronized (LOCK) {
            if (x > 0) {
                return counter += x;
            }
            counter--;
        }
        return counter;
    }

    static synchronized int syncMethod() {
        return counter;
    }

    static String strings(String s) {
        switch (s) {
            case "alpha":
                return "a";
            case "beta":
            case "gamma":
                return "bg";
            case "Aa":
            case "BB":
                return "collision";
            default:
                return "other";
        }
    }

    static int colors(Color c) {
        switch (c) {
            case RED:
                return 1;
            case GREEN:
                return 2;
            default:
                return 0;
        }
    }

    static int lookup(int k) {
        switch (k) {
            case 1:
                return 10;
            case 1000:
                return 20;
            case 100000:
                return 30;
            default:
                return -1;
        }
    }

    static List<Integer> lambdas(List<Integer> in) {
        List<Integer> out = new ArrayList<>();
        in.stream().filter(v -> v % 2 == 0).map(v -> v * 3).forEach(out::add);
        Runnable r = () -> {
            if (out.isEmpty()) {
                out.add(-1);
            }
        };
        r.run();
        return out;
    }

    static int throwing(int x) {
        if (x < 0) {
            throw new IllegalArgumentException("negative " + x);
        }
        return Math.abs(x) + call(x) + call(x + 1);
    }

    static int call(int v) {
        return v;
    }

    static long arithmetic(long a, double d, float f) {
        long r = a << 3;
        r ^= (long) d;
        r += (long) (f * 2);
        int[] arr = new int[3];
        arr[1] = (int) r;
        Object o = arr;
        if (o instanceof int[]) {
            r += ((int[]) o).length;
        }
        String[][] multi = new String[2][3];
        return r + multi.length;
    }

    static void neverCalled() {
        System.out.println("never");
    }
}
