package corpus;

/** A whole class marked generated. */
@Generated
public class GeneratedClass {
    int work(int x) {
        return x * 2;
    }
}
