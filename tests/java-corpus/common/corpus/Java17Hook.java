package corpus;

import java.util.List;

/** Calls the Java 17 part of the corpus when it is on the class path (reflection keeps this
 * file compilable with --release 8). */
final class Java17Hook {
    private Java17Hook() {
    }

    static void run(List<String> args) {
        try {
            Class.forName("corpus17.Modern").getMethod("main", String[].class)
                    .invoke(null, (Object) args.toArray(new String[0]));
        } catch (ClassNotFoundException e) {
            return;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }
}
