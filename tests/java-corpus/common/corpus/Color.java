package corpus;

/** An enum with an empty constructor (filtered) and values/valueOf (filtered). */
public enum Color {
    RED, GREEN, BLUE;

    boolean warm() {
        return this == RED;
    }
}
