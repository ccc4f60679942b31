package corpus;

/** An enum with a real constructor and constant-specific bodies. */
public enum Planet {
    MERCURY(3.303e+23) {
        @Override
        String describe() {
            return "hot";
        }
    },
    EARTH(5.976e+24);

    private final double mass;

    Planet(double mass) {
        this.mass = mass;
    }

    double mass() {
        return mass;
    }

    String describe() {
        return mass > 1e24 ? "big" : "small";
    }
}
