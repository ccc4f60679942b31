package ids;

/** Compiled with --release 9: class file major version 53, the CRC64 quirk. */
public class Nine {
    public static Integer value() {
        return 9;
    }
}
