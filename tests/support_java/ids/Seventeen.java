package ids;

/** Compiled with --release 17. */
public class Seventeen {
    public static Integer value() {
        return 17;
    }
}
