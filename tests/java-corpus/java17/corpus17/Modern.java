package corpus17;

/** Java 17 features: records, switch expressions, instanceof patterns, text blocks, sealed. */
public class Modern {
    record Point(int x, int y) {
        Point {
            if (x < 0) {
                throw new IllegalArgumentException("x");
            }
        }

        int sum() {
            return x + y;
        }
    }

    record Empty() {
    }

    sealed interface Vehicle permits Car, Bike {
    }

    static final class Car implements Vehicle {
    }

    static final class Bike implements Vehicle {
    }

    static String describe(Object o) {
        if (o instanceof Point p && p.x() > 1) {
            return "point " + p.sum();
        }
        if (o instanceof String s) {
            return s.isEmpty() ? "empty" : s;
        }
        return "other";
    }

    static int code(String k) {
        return switch (k) {
            case "a" -> 1;
            case "b", "c" -> 2;
            default -> {
                int h = k.length();
                yield h > 3 ? 3 : 0;
            }
        };
    }

    static int days(java.time.DayOfWeek d) {
        return switch (d) {
            case SATURDAY, SUNDAY -> 0;
            default -> 1;
        };
    }

    static String text() {
        return """
            hello
              world
            """;
    }

    static int vehicle(Vehicle v) {
        return v instanceof Car ? 4 : 2;
    }

    public static void main(String[] args) {
        Point p = new Point(2, 3);
        describe(p);
        describe("x");
        code("a");
        code("zzzz");
        days(java.time.DayOfWeek.MONDAY);
        text();
        vehicle(new Car());
        System.out.println(p + " " + p.equals(new Point(2, 3)) + " " + new Empty());
    }
}
