package corpus;

import java.util.Comparator;
import java.util.function.Supplier;

/** Nested, inner, anonymous and local classes; interfaces with default and static methods. */
public class Shapes {
    private Shapes() {
    }

    interface Shape {
        double area();

        default String label() {
            return "shape " + area();
        }

        static Shape unit() {
            return () -> 1.0;
        }
    }

    static final class Square implements Shape, Comparable<Square> {
        final double side;

        Square(double side) {
            this.side = side;
        }

        @Override
        public double area() {
            return side * side;
        }

        @Override
        public int compareTo(Square o) {
            return Double.compare(side, o.side);
        }
    }

    class Inner {
        int value() {
            return outerField + 1;
        }
    }

    int outerField = 41;

    static Supplier<String> anonymous(final int n) {
        return new Supplier<String>() {
            @Override
            public String get() {
                return n > 2 ? "many" : "few";
            }
        };
    }

    static int local(int n) {
        class Counter {
            int count;

            void add() {
                count += n;
            }
        }
        Counter c = new Counter();
        c.add();
        c.add();
        return c.count;
    }

    static int run() {
        Shapes s = new Shapes();
        Inner in = s.new Inner();
        Comparator<Square> cmp = Square::compareTo;
        int r = cmp.compare(new Square(1), new Square(2));
        return in.value() + local(2) + r + (int) Shape.unit().area() + anonymous(3).get().length()
                + new Square(2).label().length();
    }
}
