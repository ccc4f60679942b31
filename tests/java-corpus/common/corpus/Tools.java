package corpus;

/** A utility class: private empty constructor (filtered), a generated method, a bridge. */
public final class Tools {
    private Tools() {
    }

    @Generated
    static int generated(int x) {
        return x > 0 ? x : -x;
    }

    static abstract class Base<T> {
        abstract T make();
    }

    static final class Impl extends Base<String> {
        @Override
        String make() {
            return "made";
        }
    }

    static String bridge() {
        Base<String> b = new Impl();
        return b.make();
    }

    private class Secret {
        private int hidden = 3;
    }

    int secret() {
        return new Secret().hidden;
    }
}
